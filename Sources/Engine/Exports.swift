// The shared model (kind declarations, checks, result documents, configuration errors) is
// part of what every client of the engine works with: importing Engine imports it too.
@_exported import ProbeModel
