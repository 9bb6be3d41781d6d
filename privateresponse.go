// Authenticated responses are private: a shared cache must not hand one
// user's page to another.

package caddyjwt

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// privateResponse marks an authenticated response private when its header
// is written, unless the response says how to cache itself. It works like
// the deferred `?Cache-Control` of Caddy's header handler, since a
// file_server or reverse_proxy behind jwt_auth only decides its headers
// when it writes them.
type privateResponse struct {
	// Embedded by value: one allocation per request instead of two.
	caddyhttp.ResponseWriterWrapper
	wroteHeader bool
	// cacheControl is the header's value, held here so that setting it
	// allocates nothing.
	cacheControl [1]string
}

func (w *privateResponse) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	// 1xx responses are not final, and 101 hands the connection over.
	if status < 100 || status > 199 {
		w.wroteHeader = true
		if hdr := w.Header(); len(hdr["Cache-Control"]) == 0 {
			w.cacheControl[0] = "private, no-cache"
			hdr["Cache-Control"] = w.cacheControl[:]
		}
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *privateResponse) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.Write(b)
}

// ReadFrom keeps io.Copy from writing through to the wrapped writer before
// the header is marked.
func (w *privateResponse) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError lets http.ResponseController flush without bypassing the
// wrapper (it would otherwise unwrap it and write the header unmarked).
func (w *privateResponse) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriterWrapper.ResponseWriter).Flush()
}

// Interface guards
var (
	_ http.ResponseWriter = (*privateResponse)(nil)
	_ io.ReaderFrom       = (*privateResponse)(nil)
)
