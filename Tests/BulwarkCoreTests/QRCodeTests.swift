@testable import BulwarkCore
import Testing

@Suite struct QRCodeTests {
    // MARK: Known answers from published tables and tutorials (computed independently of this encoder)

    @Test func formatInformationMatchesThePublishedTable() {
        // ISO/IEC 18004 Annex C: the 15-bit format information after masking with 101010000010010.
        let expected: [(QRCode.ErrorCorrection, Int, Int)] = [
            (.low, 0, 0b111011111000100), (.low, 4, 0b110011000101111), (.low, 7, 0b110100101110110),
            (.medium, 0, 0b101010000010010), (.medium, 5, 0b100000011001110), (.medium, 6, 0b100111110010111),
            (.quartile, 0, 0b011010101011111), (.quartile, 3, 0b011101000000110),
            (.high, 0, 0b001011010001001), (.high, 7, 0b000100000111011),
        ]
        for (level, mask, bits) in expected {
            #expect(QRMatrix.formatInformation(errorCorrection: level, mask: mask) == bits, "\(level) mask \(mask)")
        }
    }

    @Test func versionInformationMatchesThePublishedTable() {
        // ISO/IEC 18004 Annex D.
        #expect(QRMatrix.versionInformation(version: 7) == 0x07C94)
        #expect(QRMatrix.versionInformation(version: 8) == 0x085BC)
        #expect(QRMatrix.versionInformation(version: 21) == 0x15683)
        #expect(QRMatrix.versionInformation(version: 40) == 0x28C69)
    }

    @Test func reedSolomonGeneratorOfDegreeTen() {
        // As exponents of α: x¹⁰ + α²⁵¹x⁹ + α⁶⁷x⁸ + α⁴⁶x⁷ + α⁶¹x⁶ + α¹¹⁸x⁵ + α⁷⁰x⁴ + α⁶⁴x³ + α⁹⁴x² + α³²x + α⁴⁵.
        let generator = ReedSolomon.generatorPolynomial(degree: 10)
        #expect(generator.map { ReedSolomon.log[Int($0)] } == [0, 251, 67, 46, 61, 118, 70, 64, 94, 32, 45])
    }

    @Test func errorCorrectionOfTheHelloWorldTutorialMessage() {
        // "HELLO WORLD" as version 1-M in alphanumeric mode: its 16 data codewords and 10 ECC codewords,
        // as worked through in the widely used public QR tutorials.
        let data: [UInt8] = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]
        let ecc = ReedSolomon.remainder(of: data, generator: ReedSolomon.generatorPolynomial(degree: 10))
        #expect(ecc == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23])
    }

    @Test func byteModeDataCodewordsWithTerminatorAndPadding() {
        // "AB" at 1-M: 0100 | 00000010 | 01000001 | 01000010 | 0000, then 0xEC 0x11 ... to 16 codewords.
        let codewords = QRDataEncoder.dataCodewords(Array("AB".utf8), version: 1, capacity: 16)
        #expect(codewords == [0x40, 0x24, 0x14, 0x20, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11])
    }

    @Test func codewordCountsAndAlignmentCentres() {
        // ISO/IEC 18004 Table 1 (total codewords) and Annex E (alignment pattern centres).
        for (version, total) in [(1, 26), (2, 44), (6, 172), (7, 196), (10, 346), (14, 581), (21, 1156), (32, 2465), (35, 2876), (40, 3706)] {
            #expect(QRMatrix.dataModuleCount(version: version) / 8 == total, "version \(version)")
        }
        #expect(QRMatrix.alignmentCentres(version: 1) == [])
        #expect(QRMatrix.alignmentCentres(version: 2) == [6, 18])
        #expect(QRMatrix.alignmentCentres(version: 7) == [6, 22, 38])
        #expect(QRMatrix.alignmentCentres(version: 32) == [6, 34, 60, 86, 112, 138])
        #expect(QRMatrix.alignmentCentres(version: 36) == [6, 24, 50, 76, 102, 128, 154])
        #expect(QRMatrix.alignmentCentres(version: 40) == [6, 30, 58, 86, 114, 142, 170])
    }

    @Test func byteCapacitiesMatchTheStandard() {
        // ISO/IEC 18004 Table 7, byte mode, levels L M Q H.
        let expected: [Int: [Int]] = [
            1: [17, 14, 11, 7], 2: [32, 26, 20, 14], 5: [106, 84, 60, 44], 7: [154, 122, 86, 64],
            9: [230, 180, 130, 98], 10: [271, 213, 151, 119], 26: [1367, 1059, 751, 593], 27: [1465, 1125, 805, 625],
            40: [2953, 2331, 1663, 1273],
        ]
        for (version, capacities) in expected {
            for (level, capacity) in zip(QRCode.ErrorCorrection.allCases, capacities) {
                #expect(QRCode.byteCapacity(version: version, errorCorrection: level) == capacity, "\(version)-\(level)")
            }
        }
    }

    // MARK: Version selection

    @Test(arguments: [(14, 1), (15, 2), (26, 2), (27, 3), (180, 9), (181, 10), (213, 10), (214, 11), (2331, 40)])
    func picksTheSmallestVersionAtLevelM(_ byteCount: Int, _ version: Int) throws {
        let code = try QRCode.encode([UInt8](repeating: 0x61, count: byteCount))
        #expect(code.version == version)
        #expect(code.size == 17 + 4 * version)
        #expect(code.errorCorrection == .medium)
    }

    @Test func otherLevelsAndMinimumVersion() throws {
        #expect(try QRCode.encode([UInt8](repeating: 1, count: 17), errorCorrection: .low).version == 1)
        #expect(try QRCode.encode([UInt8](repeating: 1, count: 7), errorCorrection: .high).version == 1)
        #expect(try QRCode.encode([UInt8](repeating: 1, count: 8), errorCorrection: .high).version == 2)
        #expect(try QRCode.encode([UInt8](repeating: 1, count: 11), errorCorrection: .quartile).version == 1)
        #expect(try QRCode.encode([1, 2, 3], minimumVersion: 7).version == 7)
    }

    @Test func refusesWhatDoesNotFit() {
        #expect(throws: QRCode.EncodingError.dataTooLong(byteCount: 2332, capacity: 2331)) {
            try QRCode.encode([UInt8](repeating: 0, count: 2332))
        }
        #expect(throws: QRCode.EncodingError.dataTooLong(byteCount: 1274, capacity: 1273)) {
            try QRCode.encode([UInt8](repeating: 0, count: 1274), errorCorrection: .high)
        }
        #expect(throws: QRCode.EncodingError.unsupportedMask(8)) { try QRCode.encode([1], mask: 8) }
        #expect(throws: QRCode.EncodingError.unsupportedVersion(41)) { try QRCode.encode([1], minimumVersion: 41) }
    }

    // MARK: Symbol structure

    // Golden symbols from an independent encoder, segno 1.6.6 (`segno.make(data, error=…, mode='byte',
    // boost_error=False, micro=False)`). Both inputs fill their version exactly: for shorter inputs segno
    // adds a 0x00 codeword before the pad codewords when the terminator already ends on a byte boundary,
    // which ISO/IEC 18004 §7.4.10 does not ask for (readers ignore it, but the symbols then differ).

    @Test func matchesAnIndependentEncoderAtVersion1WithMask4() throws {
        let expected = [
            "#######.#.....#######", "#.....#..#.##.#.....#", "#.###.#..##.#.#.###.#", "#.###.#.#.....#.###.#",
            "#.###.#.#.#.#.#.###.#", "#.....#.###.#.#.....#", "#######.#.#.#.#######", "........#####........",
            "#...#.#####.######..#", ".####....#.####.###..", ".#.#.####......##..#.", "#.####....#..#......#",
            ".....###....###.#..##", "........#..##...##.##", "#######.#.#..#..##.#.", "#.....#..#.#.#.#....#",
            "#.###.#.##..###..#...", "#.###.#.......#######", "#.###.#..#.#..#.#.#..", "#.....#..##..#..#....",
            "#######.#.#.###.....#",
        ]
        // segno picks mask 4 here and this encoder mask 6: segno scores masks before writing the format
        // information, this encoder after. Any mask is valid; forcing it makes the symbols comparable.
        let code = try QRCode.encode("Bulwark MFA QR", mask: 4)
        #expect(code.version == 1 && code.errorCorrection == .medium)
        #expect(rows(of: code) == expected)
    }

    @Test func matchesAnIndependentEncoderAtVersion7WithVersionInformation() throws {
        let uri = "otpauth://totp/Bulwark:alicexxxxxxxxxxxxxxxxxxxxxxx%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Bulwark&algorithm=SHA1&digits=6&period=30"
        let expected = [
            "#######..#.#..#......###.#.#.##..#..#.#######", "#.....#.##.....#.#.#...#######..##.#..#.....#", "#.###.#...#.####.##.....#..##...##.#..#.###.#",
            "#.###.#.##..##.####.#.#..#...###...##.#.###.#", "#.###.#..##.###..#.#######..###.#####.#.###.#", "#.....#.##.#.#...##.#...###..#.#......#.....#",
            "#######.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#######", "...........###.....##...#.#.#..##..##........", "#####.######.#..###.#####.....##..##.#.#.#.#.",
            "..#..#.....####......##..#.#.###...###.#..#.#", ".#...########..##.####.#######.#.##.#.#...##.", "..####...#..#.#...#.........#.#.##.#.....##..",
            ".##...#..#..##.#####..#.#.#..#...#..#.....#..", "...##..####...#........#.#.#.##....###.#..##.", "......##.#.##...###.##.##.#.##...#.#...#####.",
            "#..##...#..#..##..##....#.#.#...##..###.###..", "......#.##..##.####..##.......##.....##..#.#.", "#.#.##.#####..##....####.#.#.####..###..#####",
            ".###.####.#..#.###...#.#######....#####.####.", "####.#.#.#...#....##.#.#..###.##...##.#..##..", "#.########.###..###.#######..#.#...######.##.",
            "...##...#.#..##.....#...#....##....##...###..", "..#.#.#.#..#..#.#...#.#.#.#..#..##..#.#.####.", "....#...##...#..#####...#.#.#...##..#...#####",
            "..#.######..##..#########.....##.#########...", "#...##...##.#.##...#####.#.#.###....#.#....##", "#.##..###.#.##...##.####.#####..####.#.#..##.",
            "##.#...#..#.#...###.##.###..####.###...#.####", "......###..##...#.#.....#.#..###.#..##.######", ".###.#.#...#####....###..#.####....##..#.####",
            "..#.###.#.##.##..##.#.....##.........#..#.#..", "####.#..###.###.##.#...##.#.#...###..##.####.", "#.##..##..##.#..###..#.#......##..#.........#",
            "...###......#.##...##.####.#.##..#.#..#...#.#", "....#.###.##.##.##....##.#####.##.#.##..#.##.", ".####..###..##.#.......##..#.###.#...#.#.##.#",
            "#..##.##...###.####.######...###.#..#####.#.#", "........#.###......##...##...####..##...#..#.", "#######.###..#..#...#.#.#.#.##...#.##.#.#.##.",
            "#.....#.....#...#####...#.#.#...#####...#.###", "#.###.#.####....###.#####.....##.#########.#.", "#.###.#.#...###..#.#.#..##.#.###...##..##..#.",
            "#.###.#.#.###.##..###.#..#####...####..#.#..#", "#.....#.#.##..#..#.##....##.#.######...##.#..", "#######.##..##.####..#.##..#......#.#.####.#.",
        ]
        let code = try QRCode.encode(uri, errorCorrection: .low)
        #expect(code.version == 7 && code.mask == 2)
        #expect(rows(of: code) == expected)
    }

    @Test(arguments: [1, 6, 7, 10, 25, 40])
    func functionPatternsAreInPlace(_ version: Int) throws {
        let code = try QRCode.encode(Array("Bulwark".utf8), minimumVersion: version)
        #expect(code.version == version)
        let size = code.size
        // Finder patterns: dark ring, light ring, dark 3 × 3 core, light separator.
        for (left, top) in [(0, 0), (size - 7, 0), (0, size - 7)] {
            for dy in -1...7 {
                for dx in -1...7 {
                    let x = left + dx, y = top + dy
                    guard x >= 0, y >= 0, x < size, y < size else { continue }
                    let ring = max(abs(dx - 3), abs(dy - 3))
                    #expect(code.isDark(x: x, y: y) == (ring <= 1 || ring == 3), "finder at \(x),\(y)")
                }
            }
        }
        // Timing patterns alternate, starting and ending dark.
        for index in 8..<(size - 8) {
            #expect(code.isDark(x: index, y: 6) == index.isMultiple(of: 2))
            #expect(code.isDark(x: 6, y: index) == index.isMultiple(of: 2))
        }
        #expect(code.isDark(x: 8, y: size - 8))  // the dark module
        #expect(!code.isDark(x: -1, y: 0) && !code.isDark(x: size, y: size - 1))  // quiet zone

        // Both copies of the format information agree with the level and mask, read in ISO order (bit 14 first).
        let expected = QRMatrix.formatInformation(errorCorrection: code.errorCorrection, mask: code.mask)
        let copy1 = [(0, 8), (1, 8), (2, 8), (3, 8), (4, 8), (5, 8), (7, 8), (8, 8), (8, 7), (8, 5), (8, 4), (8, 3), (8, 2), (8, 1), (8, 0)]
        let copy2 = (0..<7).map { (8, size - 1 - $0) } + (0..<8).map { (size - 8 + $0, 8) }
        #expect(read(code, copy1) == expected)
        #expect(read(code, copy2) == expected)

        if version >= 7 {
            // Version information, bit 17 first: bottom-left block read row by row from the bottom-right
            // corner, top-right block its transpose.
            var bottomLeft = [(Int, Int)](), topRight = [(Int, Int)]()
            for along in stride(from: 5, through: 0, by: -1) {
                for across in stride(from: size - 9, through: size - 11, by: -1) {
                    bottomLeft.append((along, across))
                    topRight.append((across, along))
                }
            }
            #expect(read(code, bottomLeft) == QRMatrix.versionInformation(version: version))
            #expect(read(code, topRight) == QRMatrix.versionInformation(version: version))
        }
    }

    @Test func forcedMasksAreUsedAndAutomaticOneHasTheLowestPenalty() throws {
        let data = Array("otpauth://totp/Bulwark:alice?secret=JBSWY3DPEHPK3PXP&issuer=Bulwark".utf8)
        var penalties = [Int]()
        for mask in 0...7 {
            let code = try QRCode.encode(data, mask: mask)
            #expect(code.mask == mask)
            let modules = (0..<code.size * code.size).map { code.isDark(x: $0 % code.size, y: $0 / code.size) }
            penalties.append(QRMaskPenalty.score(modules: modules, size: code.size))
        }
        let automatic = try QRCode.encode(data)
        #expect(penalties[automatic.mask] == penalties.min())
        #expect(penalties.firstIndex(of: penalties.min()!) == automatic.mask)
    }

    @Test func penaltyRules() {
        #expect(QRMaskPenalty.runPenalty([true, true, true, true]) == 0)
        #expect(QRMaskPenalty.runPenalty([true, true, true, true, true]) == 3)
        #expect(QRMaskPenalty.runPenalty([false, true, true, true, true, true, true, true]) == 5)
        let finder: [Bool] = [true, false, true, true, true, false, true]
        let light = [Bool](repeating: false, count: 4)
        #expect(QRMaskPenalty.finderLikePenalty(light + finder + [true]) == 40)
        #expect(QRMaskPenalty.finderLikePenalty([true] + finder + [true]) == 0)
        #expect(QRMaskPenalty.finderLikePenalty([true] + finder) == 40)  // the quiet zone is light
    }

    // MARK: Rendering

    @Test func textUsesTwoCharactersPerModule() throws {
        let code = try QRCode.encode("hi")
        let lines = code.text(quietZone: 2).split(separator: "\n")
        #expect(lines.count == code.size + 4)
        #expect(lines.allSatisfy { $0.count == 2 * (code.size + 4) })
        #expect(lines[0] == Substring(String(repeating: "██", count: code.size + 4)))
        #expect(lines[2].hasPrefix("████" + "  "))  // quiet zone, then the finder's dark corner
        let inverted = code.text(quietZone: 0, dark: "##", light: "..").split(separator: "\n")
        #expect(inverted[0].hasPrefix("##############.."))
    }

    @Test func pngHasValidChunksAndReproducesTheModules() throws {
        let code = try QRCode.encode("otpauth://totp/Bulwark:alice?secret=JBSWY3DPEHPK3PXP")
        let scale = 3, quietZone = 4
        let png = code.png(scale: scale, quietZone: quietZone)
        let side = (code.size + 2 * quietZone) * scale
        let image = try decodeStoredPNG(png)
        #expect(image.width == side && image.height == side && image.bitDepth == 1)
        for y in 0..<side {
            for x in 0..<side {
                let dark = code.isDark(x: x / scale - quietZone, y: y / scale - quietZone)
                #expect(image.pixel(x: x, y: y) == (dark ? 0 : 1))
            }
        }
    }

    @Test func grayscalePNGSplitsLargeImagesIntoStoredBlocks() throws {
        let width = 300, height = 250  // 250 × 301 = 75 250 bytes of scanlines: two stored blocks
        let pixels = (0..<(width * height)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let image = try decodeStoredPNG(PNGWriter.grayscale(width: width, height: height, pixels: pixels))
        #expect(image.width == width && image.height == height && image.bitDepth == 8)
        #expect(image.storedBlockCount == 2)
        #expect(image.pixel(x: 0, y: 0) == 0 && image.pixel(x: 1, y: 0) == 7 && image.pixel(x: 299, y: 249) == pixels.last!)
    }

    @Test func checksumsMatchKnownValues() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("IEND".utf8)) == 0xAE42_6082)
        #expect(Adler32.checksum(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(Adler32.checksum([]) == 1)
    }

    // MARK: Helpers

    private func rows(of code: QRCode) -> [String] {
        (0..<code.size).map { y in String((0..<code.size).map { code.isDark(x: $0, y: y) ? "#" : "." }) }
    }

    /// Reads bits most significant first from the given (x, y) modules.
    private func read(_ code: QRCode, _ positions: [(Int, Int)]) -> Int {
        positions.reduce(0) { $0 << 1 | (code.isDark(x: $1.0, y: $1.1) ? 1 : 0) }
    }
}

/// A minimal PNG reader for what `PNGWriter` produces: it checks the signature, every chunk's CRC,
/// the zlib header, stored-block lengths and the Adler-32, and refuses anything else.
private struct StoredPNG {
    var width = 0, height = 0, bitDepth = 0, storedBlockCount = 0
    var scanlines = [UInt8]()

    func pixel(x: Int, y: Int) -> Int {
        let rowBytes = (width * bitDepth + 7) / 8
        let row = y * (rowBytes + 1) + 1
        if bitDepth == 8 { return Int(scanlines[row + x]) }
        return Int(scanlines[row + x / 8] >> (7 - x % 8) & 1)
    }
}

private struct PNGFormatError: Error, CustomStringConvertible {
    let description: String
}

private func decodeStoredPNG(_ bytes: [UInt8]) throws -> StoredPNG {
    func check(_ condition: Bool, _ what: String) throws { if !condition { throw PNGFormatError(description: what) } }
    func bigEndian(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }

    try check(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "signature")
    var image = StoredPNG()
    var idat = [UInt8]()
    var types = [String]()
    var offset = 8
    while offset < bytes.count {
        let length = bigEndian(offset)
        let type = Array(bytes[offset + 4..<offset + 8])
        let data = Array(bytes[offset + 8..<offset + 8 + length])
        try check(UInt32(bigEndian(offset + 8 + length)) == CRC32.checksum(type + data), "CRC of \(type)")
        types.append(String(decoding: type, as: UTF8.self))
        switch types.last {
        case "IHDR":
            try check(length == 13, "IHDR length")
            image.width = bigEndian(offset + 8)
            image.height = bigEndian(offset + 12)
            image.bitDepth = Int(data[8])
            try check(Array(data[9...12]) == [0, 0, 0, 0], "grayscale, no interlace")
        case "IDAT": idat += data
        default: break
        }
        offset += 12 + length
    }
    try check(types == ["IHDR", "IDAT", "IEND"], "chunk order \(types)")

    try check(idat[0] == 0x78 && (Int(idat[0]) << 8 | Int(idat[1])) % 31 == 0, "zlib header")
    var position = 2
    var isFinal = false
    while !isFinal {
        isFinal = idat[position] & 1 == 1
        try check(idat[position] >> 1 & 3 == 0, "stored block type")
        let length = Int(idat[position + 1]) | Int(idat[position + 2]) << 8
        let complement = Int(idat[position + 3]) | Int(idat[position + 4]) << 8
        try check(length ^ complement == 0xFFFF, "NLEN")
        image.scanlines += idat[position + 5..<position + 5 + length]
        image.storedBlockCount += 1
        position += 5 + length
    }
    try check(position + 4 == idat.count, "trailing bytes")
    try check(UInt32(idat[position..<position + 4].reduce(0) { $0 << 8 | Int($1) }) == Adler32.checksum(image.scanlines), "Adler-32")

    let rowBytes = (image.width * image.bitDepth + 7) / 8
    try check(image.scanlines.count == image.height * (rowBytes + 1), "inflated size")
    for row in 0..<image.height { try check(image.scanlines[row * (rowBytes + 1)] == 0, "filter type None") }
    return image
}
