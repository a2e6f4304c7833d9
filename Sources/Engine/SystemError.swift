import CProbe
import Glibc

/// A failed system call, carrying the `errno` CProbe returned as `-errno`.
public struct SystemError: Error, Equatable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32

    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Turns a CProbe `-errno` return into a thrown `SystemError`: the one place
/// that mapping happens.
@inline(__always)
@discardableResult
func cprobeCall(_ operation: @autoclosure () -> String, _ result: Int32) throws(SystemError) -> Int32 {
    if result < 0 { throw SystemError(operation(), errno: -result) }
    return result
}
