import Agent
import ArgumentParser
import Foundation
import ProbeModel

/// `--upload URL`: a one-off run's documents go to a server (the original goClient's role),
/// with an API key or a device token.
struct UploadOptions: ParsableArguments {
    @Option(name: .customLong("upload"), help: "Upload the run's result documents to this server (http:// or https://).")
    var server: String?

    @Option(name: .customLong("token"), help: "API key or device token for --upload (default: $WADDLEPERF_UPLOAD_TOKEN).")
    var token: String?

    @Option(name: .customLong("upload-ca-file"), help: "PEM bundle of CAs to trust for the --upload server.")
    var caFile: String?

    /// Checks the options before anything is measured.
    func validate() throws {
        guard let server else { return }
        guard let url = URL(string: server), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ConfigurationError(field: "upload", "must be an http:// or https:// URL, got '\(server)'")
        }
        guard credential != nil else {
            throw ConfigurationError(field: "token", "--upload needs an API key or device token (--token or WADDLEPERF_UPLOAD_TOKEN)")
        }
    }

    private var credential: String? { token ?? ProcessInfo.processInfo.environment["WADDLEPERF_UPLOAD_TOKEN"] }

    /// Sends `documents` when --upload is given; says on stderr what the server holds.
    func upload(_ documents: [ResultDocument]) async throws {
        guard let server, let url = URL(string: server), let credential, !documents.isEmpty else { return }
        let client = try ControlClient(server: url, caFile: caFile)
        do {
            let stored = try await client.upload(documents, token: credential)
            FileHandle.standardError.write(Data("waddleperf: uploaded \(stored) results to \(server)\n".utf8))
            await client.shutdown()
        } catch {
            await client.shutdown()
            throw ConfigurationError(field: "upload", "\(error)")
        }
    }
}
