package caddyjwt

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the jwt app's Prometheus counters. They live in the metrics
// registry of the config they were provisioned in, as Caddy's own HTTP
// metrics do, so they appear on Caddy's metrics endpoint (the admin API's
// /metrics and the `metrics` handler) and start again from zero when the
// config is reloaded.
type metrics struct {
	logins *prometheus.CounterVec
	auths  *prometheus.CounterVec
}

// newMetrics creates the counters and registers them in reg, which may be
// nil (the counters then count for nobody).
func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	labels := []string{"backend", "result"}
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy",
			Subsystem: "jwt",
			Name:      "logins_total",
			Help:      "Login attempts at jwt_login, by backend and result (success, bad_credentials, rate_limited, busy, invalid_request, refresh, refresh_invalid, refresh_reuse, store_unavailable).",
		}, labels),
		auths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy",
			Subsystem: "jwt",
			Name:      "auth_total",
			Help:      "Requests decided by jwt_auth, by backend and result (ok, no_token, invalid, expired, revoked, forbidden, bad_request).",
		}, labels),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.logins, err = registerCounterVec(reg, m.logins); err != nil {
		return nil, err
	}
	if m.auths, err = registerCounterVec(reg, m.auths); err != nil {
		return nil, err
	}
	return m, nil
}

// registerCounterVec registers c, or returns the counter vector already
// registered under its name: registering the same metric twice in one
// registry is an error, and the counts must go to the one being scraped.
func registerCounterVec(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(c)
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		if existing, ok := dup.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return c, err
}

// backendMetrics are one backend's counters, one per result label:
//
//   - caddy_jwt_logins_total: success, bad_credentials (wrong password,
//     unknown or disabled user), rate_limited (429), busy (503: no hash
//     slot), invalid_request (a request refused before any password check),
//     refresh (a refresh token exchanged), refresh_invalid (one refused),
//     refresh_reuse (one used again: its family revoked), store_unavailable
//     (a refresh the store could not answer);
//   - caddy_jwt_auth_total: ok, no_token, invalid (any bad token but an
//     expired or revoked one), expired, revoked, forbidden (a require line
//     failed), bad_request (a malformed or repeated Authorization header).
//
// They are resolved once at provision, so that counting on the request path
// is one atomic add, and created there, so that every series is exported at
// 0 before anything happened.
type backendMetrics struct {
	loginSuccess, loginBadCredentials, loginRateLimited, loginBusy, loginInvalidRequest prometheus.Counter
	refreshOK, refreshInvalid, refreshReuse, refreshUnavailable                         prometheus.Counter

	authOK, authNoToken, authInvalid, authExpired, authRevoked, authForbidden, authBadRequest prometheus.Counter
}

// forBackend resolves the counters of the backend named name; refresh says
// it has refresh tokens.
func (m *metrics) forBackend(name string, refresh bool) *backendMetrics {
	login := func(result string) prometheus.Counter { return m.logins.WithLabelValues(name, result) }
	auth := func(result string) prometheus.Counter { return m.auths.WithLabelValues(name, result) }
	bm := &backendMetrics{
		loginSuccess:        login("success"),
		loginBadCredentials: login("bad_credentials"),
		loginRateLimited:    login("rate_limited"),
		loginBusy:           login("busy"),
		loginInvalidRequest: login("invalid_request"),

		authOK:         auth("ok"),
		authNoToken:    auth("no_token"),
		authInvalid:    auth("invalid"),
		authExpired:    auth("expired"),
		authRevoked:    auth("revoked"),
		authForbidden:  auth("forbidden"),
		authBadRequest: auth("bad_request"),
	}
	// Only a backend with refresh tokens exports their results.
	if refresh {
		bm.refreshOK, bm.refreshInvalid = login("refresh"), login("refresh_invalid")
		bm.refreshReuse, bm.refreshUnavailable = login("refresh_reuse"), login("store_unavailable")
	}
	return bm
}

// countRejected counts a token jwt_auth refused, telling an expired token
// from any other bad one.
func (m *backendMetrics) countRejected(reason error) {
	switch reason {
	case errTokenExpired:
		m.authExpired.Inc()
	case errTokenRevoked:
		m.authRevoked.Inc()
	default:
		m.authInvalid.Inc()
	}
}

// cacheLookupCounters resolves the counters of a backend's verified-token
// cache, caddy_jwt_cache_lookups_total{backend, result="hit"|"miss"},
// registered in reg (which may be nil). A hit is a token found in the cache
// (its exp, nbf and iat are still checked); a miss one verified in full.
// Like backendMetrics, they are resolved once, so that counting a lookup is
// one atomic add, and exported at 0 from the start.
func cacheLookupCounters(reg *prometheus.Registry, backend string) (hit, miss prometheus.Counter, err error) {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "jwt",
		Name:      "cache_lookups_total",
		Help:      "Lookups in a backend's verified-token cache, by backend and result (hit, miss).",
	}, []string{"backend", "result"})
	if reg != nil {
		if lookups, err = registerCounterVec(reg, lookups); err != nil {
			return nil, nil, err
		}
	}
	return lookups.WithLabelValues(backend, "hit"), lookups.WithLabelValues(backend, "miss"), nil
}

// registerStoreGauge exports caddy_jwt_store_up: 1 while the store is
// reachable, 0 while it is not. It reads the store when scraped, so it is
// current however the store's state changed.
func registerStoreGauge(reg prometheus.Registerer, s store) error {
	if reg == nil {
		return nil
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace:   "caddy",
		Subsystem:   "jwt",
		Name:        "store_up",
		Help:        "Whether the jwt app's store is reachable (1) or not (0).",
		ConstLabels: prometheus.Labels{"store": s.kind()},
	}, func() float64 {
		if s.up() {
			return 1
		}
		return 0
	})
	err := reg.Register(g)
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		return nil
	}
	return err
}
