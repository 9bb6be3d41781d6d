// The refresh grant at jwt_login: a refresh token from the request body or
// the refresh cookie exchanged for new tokens, and the silent renewal of a
// browser that opens the login page with a refresh cookie.

package caddyjwt

import (
	"net/http"
	"time"

	"go.uber.org/zap"
)

// refreshGrant answers grant_type=refresh_token. The token is the body's
// refresh_token or, when the body has none, the refresh cookie. The outcome
// tells the limits what to count: a refused token counts as a failure.
func (h *Login) refreshGrant(w http.ResponseWriter, r *http.Request, form loginForm, ip string, browser bool) (outcome, error) {
	raw, fromCookie := form.refreshToken, false
	if raw == "" {
		raw, fromCookie = h.refreshCookieValue(r), true
	}
	if raw == "" {
		return notChecked, h.refuse(w, r, ip, browser, http.StatusBadRequest, "refresh_token is required", form,
			"Your session has ended. Please sign in.")
	}
	res, err := h.backend.exchange(r.Context(), raw)
	if err != nil {
		h.storeUnavailable(ip, err)
		w.Header().Set("Retry-After", "1")
		if browser {
			return notChecked, h.servePage(w, r, http.StatusServiceUnavailable, form, "The server is busy. Try again in a moment.")
		}
		return notChecked, writeJSON(w, http.StatusServiceUnavailable, errorBody{"temporarily_unavailable", "STORE_UNAVAILABLE"})
	}
	if res.issued.token == "" {
		h.refusedRefresh(w, res, ip, fromCookie)
		if browser {
			return failed, h.servePage(w, r, http.StatusBadRequest, form, "Your session has ended. Please sign in.")
		}
		return failed, writeJSON(w, http.StatusBadRequest, errorBody{"invalid_grant", "REFRESH_INVALID"})
	}
	h.refreshed(res, ip)
	return notChecked, h.respond(w, res.issued, browser, form.redirect)
}

// silentRefresh renews the tokens of a browser that opens the login page
// with a refresh cookie and sends it on (303) to redirect; it tells whether
// it answered. Otherwise the page is shown: no cookie, a refused one
// (cleared), the limits reached, or a store that cannot answer.
func (h *Login) silentRefresh(w http.ResponseWriter, r *http.Request, redirect string) bool {
	raw := h.refreshCookieValue(r)
	if raw == "" {
		return false
	}
	ip := clientIP(r)
	var adm admission
	if h.limits != nil {
		var wait time.Duration
		if adm, wait, _ = h.limits.admit(ip, "", time.Now()); wait > 0 {
			return false
		}
	}
	res, err := h.backend.exchange(r.Context(), raw)
	switch {
	case err != nil:
		adm.settle(notChecked)
		h.storeUnavailable(ip, err)
		return false
	case res.issued.token == "":
		adm.settle(failed)
		h.refusedRefresh(w, res, ip, true)
		return false
	}
	adm.settle(notChecked)
	h.refreshed(res, ip)
	_ = h.respond(w, res.issued, true, redirect)
	return true
}

// refreshCookieValue is the refresh cookie the request carries, or "".
func (h *Login) refreshCookieValue(r *http.Request) string {
	c := h.backend.Cookie
	if c == nil || h.backend.refresh == nil {
		return ""
	}
	if ck, err := r.Cookie(c.refreshName()); err == nil {
		return ck.Value
	}
	return ""
}

// refreshed counts and logs a successful refresh.
func (h *Login) refreshed(res refreshResult, ip string) {
	h.backend.metrics.refreshOK.Inc()
	if c := h.logger.Check(zap.InfoLevel, "token refreshed"); c != nil {
		c.Write(zap.String("backend", h.backend.name), zap.String("user", res.user), zap.String("client_ip", ip))
	}
}

// refusedRefresh counts and logs a refused refresh token, and clears the
// refresh cookie when the token came from it. A reused token has ended its
// family: that is worth a warning of its own.
func (h *Login) refusedRefresh(w http.ResponseWriter, res refreshResult, ip string, fromCookie bool) {
	if fromCookie && h.backend.Cookie != nil {
		http.SetCookie(w, h.backend.Cookie.refreshCookie("", h.backend.refresh.path, 0))
	}
	if res.outcome == refreshReused {
		h.backend.metrics.refreshReuse.Inc()
		h.logger.Warn("refresh token reused; session revoked",
			zap.String("backend", h.backend.name), zap.String("user", res.user),
			zap.String("client_ip", ip), zap.String("session", res.sid))
		return
	}
	h.backend.metrics.refreshInvalid.Inc()
	h.logFailure(ip, res.user, "invalid refresh token")
}

// storeUnavailable counts and logs a refresh the store could not answer.
func (h *Login) storeUnavailable(ip string, err error) {
	h.backend.metrics.refreshUnavailable.Inc()
	h.logger.Warn("refresh refused: the store is unreachable",
		zap.String("backend", h.backend.name), zap.String("client_ip", ip), zap.Error(err))
}
