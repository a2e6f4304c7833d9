import ArgumentParser
import Engine
import Foundation

@main
struct WaddlePerf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waddleperf",
        abstract: "Network performance testing and synthetic monitoring.",
        subcommands: [ProbeCommand.self, RunCommand.self, BenchCommand.self, WatchCommand.self, TargetCommand.self, ControlCommand.self, ServeCommand.self, AgentCommand.self]
    )

    /// Usage errors (bad flags, bad values) exit with 2 and one line naming
    /// the field; nothing has been sent by then.
    static func main() async {
        // Thousands of probes or connections in flight each hold a socket.
        ProcessLimits.raiseOpenFiles()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("waddleperf: error: \(error.field): \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch let error as ICMPUnavailableError {
            FileHandle.standardError.write(Data("waddleperf: error: \(error.description)\n".utf8))
            Foundation.exit(1)
        } catch let error as SystemError {
            FileHandle.standardError.write(Data("waddleperf: error: \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            let code = exitCode(for: error)
            if code == .success || code == .validationFailure && error is CleanExit {
                exit(withError: error)
            }
            if code == .validationFailure {
                let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
                FileHandle.standardError.write(Data("waddleperf: error: \(message.replacingOccurrences(of: "Error: ", with: ""))\n".utf8))
                FileHandle.standardError.write(Data("(see 'waddleperf help')\n".utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
