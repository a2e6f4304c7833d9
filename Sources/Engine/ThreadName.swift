import CProbe

/// Names the calling thread for `top -H`, `perf` and /proc/PID/task/*/comm (the kernel keeps
/// 15 bytes). Foundation's `Thread.name` does not reach the kernel here: a thread started from
/// a concurrency worker kept its creator's name, and a profile could not tell the database
/// threads from the cooperative pool. Returns false if the kernel refused; the callers go on
/// without a name (it changes nothing but what a profile shows).
@discardableResult
public func nameCurrentThread(_ name: String) -> Bool {
    cprobe_thread_name(name) == 0
}
