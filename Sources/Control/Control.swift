// The control plane (authentication, RBAC, REST, storage) is issue 4 and has
// not started: this target is intentionally empty so the package layout is in
// place. Nothing here pretends to work.
