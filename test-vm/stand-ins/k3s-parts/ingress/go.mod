// A STAND-IN for Traefik, k3s's ingress controller, for the test profile: see main.go.
module floppies.invalid/stand-ins/k3s-ingress

go 1.24
