// Command tokens prints HS256 tokens for bench/load.sh's all-misses case:
// -n tokens, one a line, each for a user of its own, valid and all
// different, shaped like the ones jwt_login issues (sub, iat, exp, jti),
// signed with the secret in the BENCH_SECRET environment variable.
//
// Usage: BENCH_SECRET=... go run ./bench/tokens -n 100000 >tokens.txt
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func main() {
	n := flag.Int("n", 20_000, "how many tokens")
	lifetime := flag.Duration("lifetime", 2*time.Hour, "how long each token is valid")
	flag.Parse()
	secret := os.Getenv("BENCH_SECRET")
	if secret == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: BENCH_SECRET=<secret> tokens -n <count> [-lifetime 2h]")
		os.Exit(2)
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	now := time.Now()
	exp := now.Add(*lifetime).Unix()
	var jti [16]byte
	for i := range *n {
		if _, err := rand.Read(jti[:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		claims := jwt.MapClaims{
			"sub": "user-" + strconv.Itoa(i),
			"iat": now.Unix(),
			"exp": exp,
			"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
		}
		signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out.WriteString(signed)
		out.WriteByte('\n')
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
