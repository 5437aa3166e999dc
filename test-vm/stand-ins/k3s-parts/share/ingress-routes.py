"""The ingress stand-in's routes, from the cluster's Ingress objects (part of
the k3s MADE OF REAL PARTS for tests; not k3s, not Traefik).

One long-lived process: every EVERY seconds it lists Ingresses and Services
from the API server over one kept-alive TLS connection, and rewrites the
routes file ("HOST PATH BACKEND" lines, k3s-ingress reads them) when they
changed. A kubectl and a python started every few seconds for this took a
large share of the CPU a node under emulation has while it comes up.

usage: ingress-routes.py API_HOST:PORT CA CERT KEY ROUTES_FILE
"""

import http.client
import json
import os
import ssl
import sys
import time

EVERY = 5


def routes(ingresses, services):
    """The routes lines of INGRESSES (pathType Prefix) to their Services' cluster IPs."""
    svcs = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services}
    lines = []
    for ing in ingresses:
        ns = ing["metadata"]["namespace"]
        for rule in ing["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                s = p["backend"].get("service")
                svc = s and svcs.get((ns, s["name"]))
                if not svc or svc["spec"].get("clusterIP") in (None, "None"):
                    continue
                port = s["port"].get("number") or next(
                    (q["port"] for q in svc["spec"]["ports"] if q.get("name") == s["port"].get("name")), None)
                if port:
                    lines.append("%s %s http://%s:%s" % (rule.get("host") or "*", p.get("path") or "/",
                                                         svc["spec"]["clusterIP"], port))
    return "".join(line + "\n" for line in lines)


def main(api, ca, cert, key, out):
    host, port = api.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    conn = None
    written = None
    while True:
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
            lists = []
            for path in ("/apis/networking.k8s.io/v1/ingresses", "/api/v1/services"):
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise OSError("GET %s: HTTP %d" % (path, resp.status))
                lists.append(json.loads(body)["items"])
            text = routes(*lists)
            if text != written:
                with open(out + ".tmp", "w") as f:
                    f.write(text)
                os.replace(out + ".tmp", out)
                written = text
        except (OSError, ValueError, KeyError, http.client.HTTPException) as e:
            # The API server may be restarting: try again with a new connection.
            print('level=warning msg="ingress routes: %s"' % e, file=sys.stderr, flush=True)
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(EVERY)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__.split("usage: ")[1].strip())
    main(*sys.argv[1:])
