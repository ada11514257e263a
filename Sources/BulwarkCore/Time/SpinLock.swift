import Synchronization

/// A tiny non-recursive lock for very short critical sections in pure code that must stay
/// free of NIO. Wraps the standard library's `Mutex` so callers need no `~Copyable` plumbing.
public final class SpinLock: Sendable {
    private let mutex = Mutex<Void>(())

    public init() {}

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try mutex.withLock { _ in try body() }
    }
}
