package pool

import "github.com/jackc/pgx/v5"

// DriverConfig is the pgx configuration Open would connect with.
func DriverConfig(raw string, cfg Config) (*pgx.ConnConfig, error) {
	u, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	cfg, err = cfg.withDefaults(&u)
	if err != nil {
		return nil, err
	}
	return driverConfig(u, cfg), nil
}
