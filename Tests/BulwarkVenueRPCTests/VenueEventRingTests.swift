import Testing

@testable import BulwarkVenueRPC

@Suite struct VenueEventRingTests {
    func items(_ replay: VenueEventRing<String>.Replay) -> [String]? {
        if case .items(let list) = replay { list } else { nil }
    }

    @Test func numbersItemsFromOne() {
        var ring = VenueEventRing<String>(capacity: 4)
        #expect(ring.lastSeq == 0)
        #expect(ring.append("a") == 1)
        #expect(ring.append("b") == 2)
        #expect(ring.firstSeq == 1)
    }

    @Test func replaysEverythingAfterTheGivenSequence() {
        var ring = VenueEventRing<String>(capacity: 4)
        for item in ["a", "b", "c"] { _ = ring.append(item) }
        #expect(items(ring.since(0)) == ["a", "b", "c"])
        #expect(items(ring.since(1)) == ["b", "c"])
        #expect(items(ring.since(3)) == [])
    }

    @Test func anEmptyRingHasNothingToReplayFromZero() {
        let ring = VenueEventRing<String>(capacity: 2)
        #expect(items(ring.since(0)) == [])
    }

    @Test func forgetsTheOldestWhenFullAndReportsTheGap() {
        var ring = VenueEventRing<String>(capacity: 3)
        for item in ["a", "b", "c", "d", "e"] { _ = ring.append(item) }
        #expect(ring.count == 3)
        #expect(ring.firstSeq == 3)
        #expect(items(ring.since(2)) == ["c", "d", "e"])
        #expect(items(ring.since(4)) == ["e"])
        // Item 2 is gone: a subscriber that saw only item 1 missed it.
        guard case .gap = ring.since(1) else { Issue.record("expected a gap"); return }
        guard case .gap = ring.since(0) else { Issue.record("expected a gap"); return }
    }

    @Test func aSequenceFromTheFutureIsAGap() {
        var ring = VenueEventRing<String>(capacity: 3)
        _ = ring.append("a")
        // A subscriber that saw item 9 heard from another run of the venue.
        guard case .gap = ring.since(9) else { Issue.record("expected a gap"); return }
    }

    @Test func wrapsAroundManyTimesInOrder() {
        var ring = VenueEventRing<Int>(capacity: 5)
        for n in 1...103 { _ = ring.append(n) }
        guard case .items(let list) = ring.since(99) else { Issue.record("expected items"); return }
        #expect(list == [100, 101, 102, 103])
        guard case .items(let all) = ring.since(98) else { Issue.record("expected items"); return }
        #expect(all == [99, 100, 101, 102, 103])
    }
}
