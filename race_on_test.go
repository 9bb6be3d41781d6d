//go:build race

package caddyjwt

// raceDetector tells whether the tests run with the race detector, which
// makes password hashing several times slower.
const raceDetector = true
