import CProbe

/// Limits of this process that probe runs outgrow.
public enum ProcessLimits {
    /// Raises the open-file soft limit to the hard limit (at most 2^20): thousands of probes
    /// or connections in flight hold a socket each, and a stock host's soft limit is 1024.
    /// Returns the soft limit now (nil: it could not be read or raised).
    @discardableResult
    public static func raiseOpenFiles() -> Int? {
        let limit = cprobe_raise_fd_limit()
        return limit < 0 ? nil : limit
    }
}
