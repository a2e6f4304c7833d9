import ProbeModel
import Synchronization

/// Client contexts of this process by their options (OpenSSL's SSL_CTX, GnuTLS credentials):
/// loading the system's CA store takes milliseconds, which every short run (a /probe scrape, a
/// server-side test) would pay again. Shared across ring threads: a context is not changed once
/// set up. (A changed system store or CA file is read on the next start.)
final class ClientContextCache<Context: AnyObject & Sendable>: Sendable {
    private let contexts = Mutex<[TLSOptions: Context]>([:])
    private let make: @Sendable (TLSOptions) throws(ConfigurationError) -> Context

    init(_ make: @escaping @Sendable (TLSOptions) throws(ConfigurationError) -> Context) { self.make = make }

    func context(_ options: TLSOptions) throws(ConfigurationError) -> Context {
        if let cached = contexts.withLock({ $0[options] }) { return cached }
        let made = try make(options)
        return contexts.withLock { cache in
            if let raced = cache[options] { return raced }
            if cache.count >= 64 { cache.removeAll() }
            cache[options] = made
            return made
        }
    }
}
