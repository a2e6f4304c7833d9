import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The web UI's files (`scripts/build-web.sh`: index.html and content-hashed assets), read once
/// at start. `/` answers index.html (revalidated every time); `/assets/NAME` answers an asset
/// with a year's immutable cache lifetime (its name changes when its content does). Nothing
/// else is served from the directory.
public struct WebUIFiles: Sendable {
    struct File: Sendable {
        let bytes: ByteBuffer
        let contentType: String
        let etag: String
    }

    let index: File
    let assets: [String: File]

    /// The UI in `directory`; nil when it holds no index.html (not built).
    public init?(directory: String) {
        let root = URL(fileURLWithPath: directory)
        guard let html = try? Data(contentsOf: root.appendingPathComponent("index.html")) else { return nil }
        index = Self.file(html, type: "text/html; charset=utf-8")
        var assets: [String: File] = [:]
        let folder = root.appendingPathComponent("assets")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
            guard let data = try? Data(contentsOf: folder.appendingPathComponent(name)) else { continue }
            let type = switch (name as NSString).pathExtension {
            case "js": "text/javascript; charset=utf-8"
            case "css": "text/css; charset=utf-8"
            case "svg": "image/svg+xml"
            case "png": "image/png"
            case "map", "json": "application/json"
            default: "application/octet-stream"
            }
            assets[name] = Self.file(data, type: type)
        }
        self.assets = assets
    }

    private static func file(_ data: Data, type: String) -> File {
        File(bytes: ByteBuffer(bytes: data), contentType: type,
             etag: "\"" + String(data.withUnsafeBytes { Secrets.sha256Hex($0) }.prefix(32)) + "\"")
    }

    /// Where the UI is when `web_root` is not set: `web` in the build folder of the running
    /// binary (`.build/release/waddleperf` and `.build/x86_64-unknown-linux-gnu/release/waddleperf`
    /// → `.build/web`), else `/usr/share/waddleperf/web` (the Docker image).
    public static func defaultDirectory() -> String? {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [folder.deletingLastPathComponent().appendingPathComponent("web").path,
                          folder.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("web").path,
                          "/usr/share/waddleperf/web"]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/index.html") }
    }
}

/// Serves `WebUIFiles` ahead of the API routes (GET and HEAD of `/`, `/index.html` and
/// `/assets/…` only); without a built UI, `/` says how to build it.
struct WebUIMiddleware<Context: RequestContext>: RouterMiddleware {
    let files: WebUIFiles?

    /// The UI's pages load only its own scripts and styles, and call only this server.
    static var contentSecurityPolicy: String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head else { return try await next(request, context) }
        let path = request.uri.path
        let file: WebUIFiles.File?
        let immutable: Bool
        if path == "/" || path == "/index.html" {
            guard let files else { return Self.notBuilt() }
            file = files.index
            immutable = false
        } else if path.hasPrefix("/assets/"), let files {
            file = files.assets[String(path.dropFirst("/assets/".count))]
            immutable = true
            if file == nil { throw HTTPError(.notFound, message: "no such asset") }
        } else {
            return try await next(request, context)
        }
        guard let file else { return try await next(request, context) }
        var headers: HTTPFields = [.contentType: file.contentType, .eTag: file.etag,
                                   .cacheControl: immutable ? "public, max-age=31536000, immutable" : "no-cache",
                                   .contentSecurityPolicy: Self.contentSecurityPolicy]
        if request.headers[.ifNoneMatch] == file.etag {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(file.bytes.readableBytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: request.method == .head ? ByteBuffer() : file.bytes))
    }

    static func notBuilt() -> Response {
        let html = """
            <!doctype html><meta charset="utf-8"><title>WaddlePerf</title>
            <p>The web UI is not built. Run <code>scripts/build-web.sh</code> (or <code>scripts/serve.sh</code>, which builds it)
            and restart the server. The API is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
            """
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                                               .contentSecurityPolicy: contentSecurityPolicy],
                        body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
