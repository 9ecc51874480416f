package dotenv_test

import (
	"fmt"
	"strings"

	"github.com/tollgate-db/tollgate/internal/dotenv"
)

func ExampleParse() {
	vars, err := dotenv.Parse(strings.NewReader(`
# transaction pooler, as in the seed
DATABASE_URL='postgres://app:pa$word@db.example.com:6543/app?pgbouncer=true&connection_limit=5'
APP_ENV=development # or production, serverless
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range vars {
		fmt.Println(v.Name)
	}
	fmt.Println(strings.Contains(vars[0].Value, "pa$word"), vars[1].Value)
	// Output:
	// DATABASE_URL
	// APP_ENV
	// true development
}
