//go:build race

package main_test

// raceBuild: the tests run under -race, so the binary they run is built
// with it too, and a data race in the command fails the test.
const raceBuild = true
