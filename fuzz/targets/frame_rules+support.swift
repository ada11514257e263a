// Stand-in for the gateway's configuration type, which `FrameLimits` has a convenience initializer
// for; the fuzz target builds its FrameLimits directly, so only the three numbers are needed.
struct ConnectionLimits {
    var maxFrameBytes: Int
    var maxMessageBytes: Int
    var maxFragments: Int
}
