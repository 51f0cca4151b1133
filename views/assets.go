// Package views holds the templ components and the static assets they use.
package views

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// assetVersion is a hash of every asset, so a changed file gets a new URL and
// old ones can be cached for a year.
var assetVersion = func() string {
	h := sha256.New()
	fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// AssetPrefix is where Assets is mounted.
const AssetPrefix = "/assets/"

// Asset returns the versioned URL of a static file, e.g. Asset("style.css").
func Asset(name string) string {
	return AssetPrefix + assetVersion + "/" + name
}

// Assets serves the embedded static files under /assets/{version}/name with
// long cache headers. A request for another version gets the current file but
// a short cache, so a rolling deploy never serves a stale file forever.
func Assets() http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, AssetPrefix)
		version, name, ok := strings.Cut(rest, "/")
		if !ok || name == "" || strings.HasSuffix(name, "/") || path.Clean("/"+name) != "/"+name {
			http.NotFound(w, r)
			return
		}
		if version == assetVersion {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		files.ServeHTTP(w, r2)
	})
}
