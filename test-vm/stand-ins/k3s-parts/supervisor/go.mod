// A STAND-IN for k3s's supervisor, for the floppies test profile: see main.go.
module floppies.invalid/stand-ins/k3s-supervisor

go 1.24
