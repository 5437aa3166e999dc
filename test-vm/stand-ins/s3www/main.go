// Command s3www is a STAND-IN for s3www v1.0.0 (github.com/harshavardhana/s3www),
// written by floppies-installer because the Go module proxy refuses s3www.
// It keeps s3www's interface as far as the chart and the tests use it: the
// same flags and S3WWW_* variables (the *_FILE forms included), a bucket
// served over HTTP through minio-go, the object index.html for `/` and for
// every "directory", s3www's 404.html fallback, 404 for a missing key, and
// the redirect of .../index.html to .../ that Go's http.FileServer does for
// s3www. Not in it: Let's Encrypt and CORS (refused at start).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"log"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

const version = "v1.0.0-floppies-stand-in"

type config struct {
	endpoint, bucket, bucketPath, address string
	accessKey, secretKey                  string
	accessKeyFile, secretKeyFile          string
	spaFile, tlsCert, tlsKey, corsOrigins string
	letsEncrypt, showVersion              bool
}

func envString(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func envBool(key string, def bool) bool {
	if v, ok := os.LookupEnv(key); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
		log.Printf("String of %q did not parse as bool for env var %q", v, key)
	}
	return def
}

func parseFlags() config {
	var c config
	flag.BoolVar(&c.showVersion, "version", false, "print version")
	flag.BoolVar(&c.showVersion, "v", false, "print version")
	flag.StringVar(&c.endpoint, "endpoint", envString("S3WWW_ENDPOINT", ""), "AWS S3 compatible server endpoint (S3WWW_ENDPOINT)")
	flag.StringVar(&c.bucket, "bucket", envString("S3WWW_BUCKET", ""), "bucket name with static files (S3WWW_BUCKET)")
	flag.StringVar(&c.bucketPath, "bucketPath", envString("S3WWW_BUCKET_PATH", "/"), "bucket path to serve static files from (S3WWW_BUCKET_PATH)")
	flag.StringVar(&c.accessKey, "accessKey", envString("S3WWW_ACCESS_KEY", ""), "access key for server (S3WWW_ACCESS_KEY)")
	flag.StringVar(&c.secretKey, "secretKey", envString("S3WWW_SECRET_KEY", ""), "secret key for server (S3WWW_SECRET_KEY)")
	flag.StringVar(&c.address, "address", envString("S3WWW_ADDRESS", "127.0.0.1:8080"), "bind to a specific ADDRESS:PORT (S3WWW_ADDRESS)")
	flag.BoolVar(&c.letsEncrypt, "lets-encrypt", envBool("S3WWW_LETS_ENCRYPT", false), "not supported by this stand-in (S3WWW_LETS_ENCRYPT)")
	flag.StringVar(&c.tlsCert, "ssl-cert", envString("S3WWW_SSL_CERT", ""), "public TLS certificate for this server (S3WWW_SSL_CERT)")
	flag.StringVar(&c.tlsKey, "ssl-key", envString("S3WWW_SSL_KEY", ""), "private TLS key for this server (S3WWW_SSL_KEY)")
	flag.StringVar(&c.accessKeyFile, "accessKeyFile", envString("S3WWW_ACCESS_KEY_FILE", ""), "file which contains the access key (S3WWW_ACCESS_KEY_FILE)")
	flag.StringVar(&c.secretKeyFile, "secretKeyFile", envString("S3WWW_SECRET_KEY_FILE", ""), "file which contains the secret key (S3WWW_SECRET_KEY_FILE)")
	flag.StringVar(&c.spaFile, "spaFile", envString("S3WWW_SPA_FILE", ""), "key served whenever a file does not exist (S3WWW_SPA_FILE)")
	flag.StringVar(&c.corsOrigins, "allowed-cors-origins", envString("S3WWW_ALLOWED_CORS_ORIGINS", ""), "not supported by this stand-in (S3WWW_ALLOWED_CORS_ORIGINS)")
	flag.Parse()
	return c
}

// readKey returns the trimmed content of FILE, or VALUE when FILE is empty.
func readKey(file, value, what string) string {
	if file == "" {
		return value
	}
	b, err := os.ReadFile(file)
	if err != nil {
		log.Fatalf("Failed to read %s file %q", what, file)
	}
	return strings.TrimSpace(string(b))
}

type server struct {
	client *minio.Client
	bucket string
	prefix string // bucketPath without its leading slash, "" or ending in "/"
	spa    string
}

// object opens KEY if it exists.
func (s *server) object(ctx context.Context, key string) (*minio.Object, minio.ObjectInfo, bool) {
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, minio.ObjectInfo{}, false
	}
	info, err := obj.Stat()
	if err != nil {
		if minio.ToErrorResponse(err).Code != "NoSuchKey" {
			log.Println(err)
		}
		obj.Close()
		return nil, minio.ObjectInfo{}, false
	}
	return obj, info, true
}

// isDir is true when some key starts with NAME/.
func (s *server) isDir(ctx context.Context, name string) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: name + "/", MaxKeys: 1}) {
		return o.Err == nil
	}
	return false
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	// As http.FileServer does: .../index.html is served as .../ .
	if strings.HasSuffix(r.URL.Path, "/index.html") {
		http.Redirect(w, r, "./", http.StatusMovedPermanently)
		return
	}
	name := strings.TrimPrefix(path.Join("/"+s.prefix, p), "/")
	ctx := r.Context()
	dir := name == "" || strings.HasSuffix(r.URL.Path, "/") || s.isDir(ctx, name)
	var candidates []string
	if dir {
		base := strings.TrimSuffix(name, "/")
		if base != "" {
			base += "/"
		}
		candidates = []string{base + "index.html", base + "index.htm"}
	} else {
		candidates = []string{name}
	}
	if s.spa != "" {
		candidates = append(candidates, strings.TrimPrefix(s.spa, "/"))
	}
	candidates = append(candidates, "404.html")
	for _, key := range candidates {
		if obj, info, ok := s.object(ctx, key); ok {
			defer obj.Close()
			if info.ContentType != "" {
				w.Header().Set("Content-Type", info.ContentType)
			}
			http.ServeContent(w, r, path.Base(key), info.LastModified, obj)
			return
		}
	}
	if dir {
		s.list(w, r, name)
		return
	}
	http.NotFound(w, r)
}

// list writes the names under the "directory" NAME, as http.FileServer
// lists a directory without index.html.
func (s *server) list(w http.ResponseWriter, r *http.Request, name string) {
	prefix := strings.TrimSuffix(name, "/")
	if prefix != "" {
		prefix += "/"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintln(w, "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>")
	for o := range s.client.ListObjects(r.Context(), s.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if o.Err != nil {
			log.Println(o.Err)
			break
		}
		n := strings.TrimPrefix(o.Key, prefix)
		fmt.Fprintf(w, "<a href=\"%s\">%s</a>\n", (&url.URL{Path: n}).String(), html.EscapeString(n))
	}
	fmt.Fprintln(w, "</pre>")
}

func main() {
	c := parseFlags()
	if c.showVersion {
		fmt.Println("s3www -", version, "(a stand-in written by floppies-installer, not harshavardhana/s3www)")
		return
	}
	if strings.TrimSpace(c.bucket) == "" {
		log.Fatalln(`Bucket name cannot be empty, please provide 's3www -bucket "mybucket"' or set env var S3WWW_BUCKET`)
	}
	if c.letsEncrypt || c.corsOrigins != "" {
		log.Fatalln("this s3www stand-in does not implement -lets-encrypt or -allowed-cors-origins")
	}
	u, err := url.Parse(c.endpoint)
	if err != nil || u.Host == "" {
		log.Fatalf("endpoint %q is not a URL", c.endpoint)
	}
	accessKey := readKey(c.accessKeyFile, c.accessKey, "access key")
	secretKey := readKey(c.secretKeyFile, c.secretKey, "secret key")
	creds := credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}})
	if accessKey != "" && secretKey != "" {
		creds = credentials.NewStaticV4(accessKey, secretKey, "")
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       s3utils.GetRegionFromURL(*u),
		BucketLookup: minio.BucketLookupAuto,
	})
	if err != nil {
		log.Fatalln(err)
	}
	prefix := strings.Trim(c.bucketPath, "/")
	if prefix != "" {
		prefix += "/"
	}
	srv := &http.Server{
		Addr:              c.address,
		Handler:           &server{client: client, bucket: c.bucket, prefix: prefix, spa: c.spaFile},
		ReadHeaderTimeout: 10 * time.Second,
	}
	if c.tlsCert != "" && c.tlsKey != "" {
		log.Printf("Started listening on https://%s (s3www stand-in)\n", c.address)
		err = srv.ListenAndServeTLS(c.tlsCert, c.tlsKey)
	} else {
		log.Printf("Started listening on http://%s (s3www stand-in)\n", c.address)
		err = srv.ListenAndServe()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalln(err)
	}
}
