package health

// FleetSource is what a Checker reports of the instance's membership of a
// fleet (package fleet shares one connection budget among instances):
// *fleet.Member satisfies it. health does not import fleet; the figures
// travel as plain values.
type FleetSource interface {
	// FleetFigures returns this instance's share (the connections it may
	// hold now), the live instances of its fleet, this one included, and
	// the fleet's demand (the sum of the instances' smoothed in-flight plus
	// queued calls). It must not block on the database.
	FleetFigures() (share, instances int, demand float64)
}

// Fleet is the report's "fleet" object.
type Fleet struct {
	Share     int     `json:"share"`     // connections this instance may hold now
	Instances int     `json:"instances"` // live instances of the fleet
	Demand    float64 `json:"demand"`    // the fleet's demand, in connections
}

func fleetOf(src FleetSource) *Fleet {
	if src == nil {
		return nil
	}
	share, n, demand := src.FleetFigures()
	return &Fleet{Share: share, Instances: n, Demand: demand}
}
