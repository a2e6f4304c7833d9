/// Bad user input: names the field so the CLI and the API can say which.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
