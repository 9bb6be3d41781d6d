package caddyjwt

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// configError is a mistake in the configuration, tagged with the setting it
// is about. Every rule about what a setting means is checked once, by the
// module's validate or provision code; the Caddyfile adapter runs the same
// code and adds the line it read the setting from (settingLines.locate).
type configError struct {
	// scope says whose setting it is: `jwt backend "api"`, `jwt_login`,
	// `jwt`.
	scope string
	// setting is the setting as the Caddyfile spells it; index is which
	// occurrence of a repeated one (secret, verify_key, user), and sub a
	// setting inside its block (cookie's path).
	setting string
	index   int
	sub     string
	msg     string
	// conflict names settings that cannot be combined; they end the
	// message, each with its line when known.
	conflict []string
	// see is another setting the error depends on, whose line is worth
	// giving too.
	see string
}

func (e *configError) Error() string { return e.text(nil) }

// text renders the error; at, when set, gives the line of a setting.
func (e *configError) text(at func(setting string) string) string {
	msg := e.msg
	if len(e.conflict) > 0 {
		parts := make([]string, len(e.conflict))
		for i, s := range e.conflict {
			parts[i] = s
			if at != nil {
				if where := at(s); where != "" {
					parts[i] += " at " + where
				}
			}
		}
		msg += " not " + strings.Join(parts, " and ")
	}
	return e.scope + ": " + e.setting + ": " + msg
}

// backendScope is the scope of a backend's settings.
func backendScope(name string) string { return fmt.Sprintf("jwt backend %q", name) }

// settingError makes a configError of the first (or only) occurrence of a
// setting.
func settingError(scope, setting, format string, args ...any) *configError {
	return &configError{scope: scope, setting: setting, msg: fmt.Sprintf(format, args...)}
}

// settingLines records where the Caddyfile adapter read each setting of
// one block, so that an error from validation can say where to look.
type settingLines struct {
	// block is the line of the block itself, for errors about the block
	// as a whole or a setting it lacks.
	block string
	at    map[string][]string
}

// newSettingLines starts the record of the block the dispenser is on.
func newSettingLines(d *caddyfile.Dispenser) *settingLines {
	return &settingLines{block: position(d), at: make(map[string][]string)}
}

// position is the dispenser's place as file:line.
func position(d *caddyfile.Dispenser) string {
	return fmt.Sprintf("%s:%d", d.File(), d.Line())
}

// add records the line of a setting the dispenser is on; key is the setting,
// or "<setting> <sub>" for one inside a setting's block.
func (l *settingLines) add(key string, d *caddyfile.Dispenser) {
	l.at[key] = append(l.at[key], position(d))
}

// line is where the index-th occurrence of key was read, or "".
func (l *settingLines) line(key string, index int) string {
	if lines := l.at[key]; index < len(lines) {
		return lines[index]
	}
	return ""
}

// locate adds the line of the setting a configError is about, or the
// block's own line to another error.
func (l *settingLines) locate(err error) error {
	var ce *configError
	if l == nil {
		return err
	}
	if !errors.As(err, &ce) {
		return fmt.Errorf("%v, at %s", err, l.block)
	}
	first := func(setting string) string { return l.line(setting, 0) }
	if len(ce.conflict) > 0 {
		return errors.New(ce.text(first))
	}
	at := ""
	if ce.sub != "" {
		at = l.line(ce.setting+" "+ce.sub, 0)
	}
	if at == "" {
		at = l.line(ce.setting, ce.index)
	}
	if at == "" {
		at = l.block
	}
	msg := ce.text(nil)
	if where := first(ce.see); ce.see != "" && where != "" {
		msg += " (" + ce.see + " set at " + where + ")"
	}
	return fmt.Errorf("%s, at %s", msg, at)
}

// reportConfigError logs a configuration error found while provisioning,
// and returns it. Caddy puts such an error at the end of a long chain of
// the modules that loaded each other; the log line leads with what to fix.
func reportConfigError(ctx caddy.Context, err error) error {
	ctx.Logger().Error(err.Error())
	return err
}

// argCountError says a setting has the wrong number of arguments. Caddy
// replaces a {$VAR} of the Caddyfile before parsing, and an empty one
// leaves no argument at all, so a missing value says so.
func argCountError(n int) string {
	if n == 0 {
		return "wrong number of arguments (0): no value given; if it is written as {$NAME}, that environment variable is empty or unset"
	}
	return fmt.Sprintf("wrong number of arguments (%d)", n)
}

// parseDurationArg reads a duration argument; a bare number is refused with
// the unit it lacks, since Caddy's durations need one.
func parseDurationArg(v string) (time.Duration, error) {
	d, err := caddy.ParseDuration(v)
	if err != nil && v != "" && strings.Trim(v, "0123456789") == "" {
		return 0, fmt.Errorf("%q has no unit; write a duration such as 1h", v)
	}
	return d, err
}
