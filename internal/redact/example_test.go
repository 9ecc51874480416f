package redact_test

import (
	"fmt"

	"github.com/tollgate-db/tollgate/internal/redact"
)

func ExampleDSN() {
	fmt.Println(redact.DSN("postgres://app:p@ss/w0rd@db.internal:5432/app?sslmode=require&sslpassword=k3y"))
	fmt.Println(redact.DSN("host=db user=app PASSWORD='s3 cret' dbname=app"))
	// Output:
	// postgres://app:xxxxx@db.internal:5432/app?sslmode=require&sslpassword=xxxxx
	// host=db user=app PASSWORD=xxxxx dbname=app
}

func ExampleText() {
	err := fmt.Errorf("connect to postgres://app:hunter2@db/app: password hunter2 rejected")
	fmt.Println(redact.Text(err.Error(), "hunter2"))
	// Output:
	// connect to postgres://app:xxxxx@db/app: password xxxxx rejected
}
