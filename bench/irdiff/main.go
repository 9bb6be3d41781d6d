// Command irdiff compares two callgrind dumps of the same Caddy binary, each
// taken over the same number of requests, function by function: the
// instructions each function ran per request in the floor's dump, in the
// case's, and the difference, largest first. It reads the costs by
// instruction address (callgrind --dump-instr=yes --compress-pos=no), not
// by callgrind's own function contexts, which Go's stack switches confuse,
// and names each address by the binary's symbol table.
//
// Usage: irdiff -binary caddy -requests 5000 [-top 40] floor.out case.out
package main

import (
	"bufio"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	binary := flag.String("binary", "", "the Caddy binary both dumps ran")
	requests := flag.Int("requests", 0, "requests in each dump")
	top := flag.Int("top", 40, "functions to list")
	flag.Parse()
	if *binary == "" || *requests < 1 || flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: irdiff -binary <caddy> -requests <n> [-top 40] <floor.out> <case.out>")
		os.Exit(2)
	}
	syms, err := functions(*binary)
	if err != nil {
		fail(err)
	}
	floor, floorTotal, err := costs(flag.Arg(0), syms)
	if err != nil {
		fail(err)
	}
	cas, caseTotal, err := costs(flag.Arg(1), syms)
	if err != nil {
		fail(err)
	}
	n := float64(*requests)
	fmt.Printf("instructions per request: floor %.0f, case %.0f, difference %+.0f (floor/case %.3f)\n\n",
		float64(floorTotal)/n, float64(caseTotal)/n, float64(caseTotal-floorTotal)/n, float64(floorTotal)/float64(caseTotal))
	type row struct {
		name        string
		floor, diff int64
	}
	var rows []row
	for name := range union(floor, cas) {
		if d := cas[name] - floor[name]; d != 0 {
			rows = append(rows, row{name, floor[name], d})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return abs(rows[i].diff) > abs(rows[j].diff) })
	fmt.Println("| difference | floor | case | function |")
	fmt.Println("|---:|---:|---:|---|")
	for _, r := range rows[:min(*top, len(rows))] {
		fmt.Printf("| %+.0f | %.0f | %.0f | `%s` |\n", float64(r.diff)/n, float64(r.floor)/n, float64(r.floor+r.diff)/n, r.name)
	}
}

// symbol is a function of the binary: where its code starts and its name.
type symbol struct {
	addr uint64
	name string
}

// functions reads the binary's function symbols, sorted by address.
func functions(path string) ([]symbol, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	var syms []symbol
	for _, s := range all {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			syms = append(syms, symbol{s.Value, s.Name})
		}
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	return syms, nil
}

// costs sums a dump's instructions by function. A cost line right after a
// calls= line is the call's inclusive cost, already counted where it ran.
func costs(path string, syms []symbol) (map[string]int64, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	byAddr := map[uint64]int64{}
	var total int64
	call := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "calls=") {
			call = true
			continue
		}
		if !strings.HasPrefix(line, "0x") {
			continue
		}
		if call {
			call = false
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, 0, fmt.Errorf("%s: cost line %q: want address, line and Ir (--compress-pos=no)", path, line)
		}
		addr, err1 := strconv.ParseUint(fields[0][2:], 16, 64)
		ir, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, 0, fmt.Errorf("%s: cost line %q", path, line)
		}
		byAddr[addr] += ir
		total += ir
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	byName := map[string]int64{}
	for addr, ir := range byAddr {
		i := sort.Search(len(syms), func(i int) bool { return syms[i].addr > addr }) - 1
		name := "?"
		if i >= 0 {
			name = syms[i].name
		}
		byName[name] += ir
	}
	return byName, total, nil
}

func union(a, b map[string]int64) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "irdiff:", err)
	os.Exit(1)
}
