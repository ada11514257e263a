/// A QR Code symbol (ISO/IEC 18004, Model 2), used to hand a TOTP secret to an authenticator app.
///
/// Scope: byte mode only (the input bytes are stored as they are; pass UTF-8), all 40 versions,
/// all four error-correction levels, automatic choice of the smallest version that fits and of the
/// mask with the lowest penalty score. No ECI header is written: readers treat byte-mode data as
/// UTF-8 or Latin-1 by inspection, and `otpauth://` URIs are ASCII anyway (labels are percent-encoded).
///
/// Modules are addressed with `x` as the column and `y` as the row, origin top-left.
public struct QRCode: Sendable {
    /// How much of the symbol may be damaged and still read: about 7, 15, 25 and 30 % of codewords.
    public enum ErrorCorrection: Sendable, CaseIterable {
        case low, medium, quartile, high

        /// The two-bit indicator in the format information (ISO/IEC 18004 Table 12); not in level order.
        var formatBits: Int {
            switch self {
            case .low: 0b01
            case .medium: 0b00
            case .quartile: 0b11
            case .high: 0b10
            }
        }
    }

    /// Why a symbol could not be made.
    public enum EncodingError: Error, Sendable, Equatable {
        /// The data does not fit even the largest allowed version at this error-correction level.
        case dataTooLong(byteCount: Int, capacity: Int)
        /// A requested version outside 1...40.
        case unsupportedVersion(Int)
        /// A requested mask outside 0...7.
        case unsupportedMask(Int)
    }

    public static let supportedVersions = 1...40

    /// 1...40; the symbol is `17 + 4 × version` modules wide.
    public let version: Int
    /// Width and height in modules, without the quiet zone.
    public let size: Int
    public let errorCorrection: ErrorCorrection
    /// The data mask pattern applied, 0...7.
    public let mask: Int
    /// Row-major, `true` = dark.
    private let modules: [Bool]

    /// Whether the module at column `x`, row `y` is dark; coordinates outside the symbol are the
    /// (light) quiet zone.
    public func isDark(x: Int, y: Int) -> Bool {
        guard x >= 0, y >= 0, x < size, y < size else { return false }
        return modules[y * size + x]
    }

    /// The number of bytes a symbol of `version` holds in byte mode at `errorCorrection`.
    public static func byteCapacity(version: Int, errorCorrection: ErrorCorrection) -> Int {
        let bits = QRBlockLayout(version: version, errorCorrection: errorCorrection).dataCodewords * 8
        return (bits - 4 - QRDataEncoder.characterCountBits(version: version)) / 8
    }

    /// Encodes `bytes` in byte mode in the smallest version ≥ `minimumVersion` that holds them.
    ///
    /// - Parameters:
    ///   - mask: forces a mask pattern (0...7) instead of the lowest-penalty one; for tests and
    ///     cross-checks against other encoders.
    /// - Throws: `EncodingError.dataTooLong` beyond the capacity of version 40 at that level
    ///   (2953 bytes at L, 2331 at M, 1663 at Q, 1273 at H).
    public static func encode(
        _ bytes: [UInt8], errorCorrection: ErrorCorrection = .medium, minimumVersion: Int = 1, mask: Int? = nil
    ) throws -> QRCode {
        guard supportedVersions.contains(minimumVersion) else { throw EncodingError.unsupportedVersion(minimumVersion) }
        if let mask, !(0...7).contains(mask) { throw EncodingError.unsupportedMask(mask) }
        guard let version = (minimumVersion...supportedVersions.upperBound).first(where: {
            byteCapacity(version: $0, errorCorrection: errorCorrection) >= bytes.count
        }) else {
            throw EncodingError.dataTooLong(
                byteCount: bytes.count,
                capacity: byteCapacity(version: supportedVersions.upperBound, errorCorrection: errorCorrection))
        }

        let layout = QRBlockLayout(version: version, errorCorrection: errorCorrection)
        let data = QRDataEncoder.dataCodewords(bytes, version: version, capacity: layout.dataCodewords)
        let codewords = layout.interleavedWithErrorCorrection(data)

        var matrix = QRMatrix(version: version)
        matrix.drawFunctionPatterns()
        matrix.placeCodewords(codewords)
        let chosenMask = mask ?? matrix.lowestPenaltyMask(errorCorrection: errorCorrection)
        matrix.applyMask(chosenMask)
        matrix.drawFormatInformation(QRMatrix.formatInformation(errorCorrection: errorCorrection, mask: chosenMask))
        return QRCode(version: version, size: matrix.size, errorCorrection: errorCorrection, mask: chosenMask, modules: matrix.modules)
    }

    /// Encodes the UTF-8 bytes of `text`.
    public static func encode(
        _ text: String, errorCorrection: ErrorCorrection = .medium, minimumVersion: Int = 1, mask: Int? = nil
    ) throws -> QRCode {
        try encode(Array(text.utf8), errorCorrection: errorCorrection, minimumVersion: minimumVersion, mask: mask)
    }

    /// The symbol for a terminal, two characters per module so modules come out roughly square.
    ///
    /// The defaults suit the usual dark-background terminal: light modules (and the quiet zone) are
    /// drawn as full blocks and dark modules as blanks, so the code appears dark on light. On a
    /// light-background terminal pass `dark: "██", light: "  "`.
    public func text(quietZone: Int = 2, dark: String = "  ", light: String = "██") -> String {
        let border = max(quietZone, 0)
        var lines = [String]()
        for y in -border..<(size + border) {
            var line = ""
            for x in -border..<(size + border) { line += isDark(x: x, y: y) ? dark : light }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The symbol as a 1-bit grayscale PNG: each module `scale` × `scale` pixels, dark modules
    /// black (0), light modules and a `quietZone` modules wide border white (255).
    ///
    /// ISO/IEC 18004 asks for a quiet zone of 4 modules; some readers fail with less.
    public func png(scale: Int = 8, quietZone: Int = 4) -> [UInt8] {
        let scale = max(scale, 1)
        let border = max(quietZone, 0)
        let side = (size + 2 * border) * scale
        var pixels = [UInt8](repeating: 255, count: side * side)
        for y in 0..<size {
            for x in 0..<size where isDark(x: x, y: y) {
                for py in 0..<scale {
                    let rowStart = ((y + border) * scale + py) * side + (x + border) * scale
                    for px in 0..<scale { pixels[rowStart + px] = 0 }
                }
            }
        }
        return PNGWriter.bilevel(width: side, height: side, pixels: pixels)
    }
}

// MARK: - Data codewords

/// Turns bytes into the data codeword sequence: mode, count, data, terminator, padding (ISO/IEC 18004 §7.4).
enum QRDataEncoder {
    static let byteModeIndicator = 0b0100
    /// The two pad codewords that alternate to fill unused capacity.
    static let padCodewords: [UInt8] = [0xEC, 0x11]

    /// Width of the character count in byte mode: 8 bits up to version 9, 16 bits after.
    static func characterCountBits(version: Int) -> Int {
        version <= 9 ? 8 : 16
    }

    static func dataCodewords(_ bytes: [UInt8], version: Int, capacity: Int) -> [UInt8] {
        var bits = BitBuffer()
        bits.append(byteModeIndicator, bitCount: 4)
        bits.append(bytes.count, bitCount: characterCountBits(version: version))
        for byte in bytes { bits.append(Int(byte), bitCount: 8) }
        let capacityBits = capacity * 8
        bits.append(0, bitCount: min(4, capacityBits - bits.count))  // terminator, shortened if no room
        bits.append(0, bitCount: (8 - bits.count % 8) % 8)  // to a codeword boundary
        var codewords = bits.bytes()
        var padIndex = 0
        while codewords.count < capacity {
            codewords.append(padCodewords[padIndex])
            padIndex ^= 1
        }
        return codewords
    }
}

/// Bits appended most significant first.
struct BitBuffer {
    private(set) var bits: [Bool] = []
    var count: Int { bits.count }

    mutating func append(_ value: Int, bitCount: Int) {
        for shift in stride(from: bitCount - 1, through: 0, by: -1) { bits.append((value >> shift) & 1 == 1) }
    }

    /// Packs the bits into bytes; the count must be a multiple of 8.
    func bytes() -> [UInt8] {
        stride(from: 0, to: bits.count, by: 8).map { start in
            bits[start..<start + 8].reduce(UInt8(0)) { $0 << 1 | ($1 ? 1 : 0) }
        }
    }
}

// MARK: - Error correction blocks

/// How a version/level splits its codewords into Reed-Solomon blocks (ISO/IEC 18004 Table 9).
struct QRBlockLayout {
    typealias ErrorCorrection = QRCode.ErrorCorrection

    let totalCodewords: Int
    let errorCorrectionPerBlock: Int
    let blockCount: Int

    var dataCodewords: Int { totalCodewords - errorCorrectionPerBlock * blockCount }

    init(version: Int, errorCorrection: ErrorCorrection) {
        let level = Self.tableRow(errorCorrection)
        totalCodewords = QRMatrix.dataModuleCount(version: version) / 8
        errorCorrectionPerBlock = Int(Self.errorCorrectionCodewordsPerBlock[level][version])
        blockCount = Int(Self.blockCounts[level][version])
    }

    /// Splits `data` into blocks (the shorter blocks first, the rest one codeword longer), appends
    /// each block's error correction, then interleaves: the i-th data codeword of every block in
    /// turn, then the i-th error-correction codeword of every block (ISO/IEC 18004 §7.6).
    func interleavedWithErrorCorrection(_ data: [UInt8]) -> [UInt8] {
        precondition(data.count == dataCodewords)
        let longBlockCount = totalCodewords % blockCount
        let shortBlockDataLength = totalCodewords / blockCount - errorCorrectionPerBlock
        var dataBlocks = [[UInt8]]()
        var start = 0
        for index in 0..<blockCount {
            let length = shortBlockDataLength + (index >= blockCount - longBlockCount ? 1 : 0)
            dataBlocks.append(Array(data[start..<start + length]))
            start += length
        }
        let generator = ReedSolomon.generatorPolynomial(degree: errorCorrectionPerBlock)
        let eccBlocks = dataBlocks.map { ReedSolomon.remainder(of: $0, generator: generator) }

        var result = [UInt8]()
        result.reserveCapacity(totalCodewords)
        for column in 0...shortBlockDataLength {
            for block in dataBlocks where column < block.count { result.append(block[column]) }
        }
        for column in 0..<errorCorrectionPerBlock {
            for block in eccBlocks { result.append(block[column]) }
        }
        return result
    }

    private static func tableRow(_ level: ErrorCorrection) -> Int {
        switch level {
        case .low: 0
        case .medium: 1
        case .quartile: 2
        case .high: 3
        }
    }

    // Rows L, M, Q, H; column = version (index 0 unused).
    private static let errorCorrectionCodewordsPerBlock: [[Int8]] = [
        [-1, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28,
         28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
         26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
        [-1, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30,
         28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [-1, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28,
         30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
    ]

    private static let blockCounts: [[Int8]] = [
        [-1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8,
         8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
        [-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
         17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
        [-1, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20,
         23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
        [-1, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25,
         25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
    ]
}

/// Reed-Solomon error correction over GF(2⁸) with the QR field polynomial x⁸+x⁴+x³+x²+1 (0x11D)
/// and generator roots α⁰…α^(n-1), α = 2.
enum ReedSolomon {
    /// `exp[i]` = αⁱ for i in 0..<255 (repeated once more so products need no modulo).
    static let exp: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 510)
        var value = 1
        for index in 0..<255 {
            table[index] = UInt8(value)
            table[index + 255] = UInt8(value)
            value <<= 1
            if value & 0x100 != 0 { value ^= 0x11D }
        }
        return table
    }()

    /// `log[v]` = i with αⁱ = v, for v in 1...255 (`log[0]` is unused).
    static let log: [Int] = {
        var table = [Int](repeating: 0, count: 256)
        for index in 0..<255 { table[Int(exp[index])] = index }
        return table
    }()

    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        guard a != 0, b != 0 else { return 0 }
        return exp[log[Int(a)] + log[Int(b)]]
    }

    /// g(x) = (x − α⁰)(x − α¹)…(x − α^(degree−1)), coefficients from the highest power down
    /// (the leading coefficient, always 1, included).
    static func generatorPolynomial(degree: Int) -> [UInt8] {
        var polynomial: [UInt8] = [1]
        for root in 0..<degree {
            var product = [UInt8](repeating: 0, count: polynomial.count + 1)
            for (index, coefficient) in polynomial.enumerated() {
                product[index] ^= coefficient  // × x
                product[index + 1] ^= multiply(coefficient, exp[root])  // × α^root (minus is plus in GF(2⁸))
            }
            polynomial = product
        }
        return polynomial
    }

    /// The error-correction codewords: the remainder of data(x) · x^n divided by g(x).
    static func remainder(of data: [UInt8], generator: [UInt8]) -> [UInt8] {
        let degree = generator.count - 1
        var remainder = [UInt8](repeating: 0, count: degree)
        for byte in data {
            let factor = byte ^ remainder[0]
            remainder.removeFirst()
            remainder.append(0)
            for index in 0..<degree { remainder[index] ^= multiply(generator[index + 1], factor) }
        }
        return remainder
    }
}

// MARK: - Module matrix

/// The module grid under construction, remembering which modules belong to function patterns
/// (finders, separators, timing, alignment, format and version information) so that data and
/// masks leave them alone.
struct QRMatrix {
    let version: Int
    let size: Int
    private(set) var modules: [Bool]
    private var isFunction: [Bool]

    init(version: Int) {
        self.version = version
        size = 17 + 4 * version
        modules = Array(repeating: false, count: size * size)
        isFunction = Array(repeating: false, count: size * size)
    }

    private mutating func setFunction(x: Int, y: Int, dark: Bool) {
        modules[y * size + x] = dark
        isFunction[y * size + x] = true
    }

    /// Modules left for data and error correction after all function patterns (ISO/IEC 18004 Table 1),
    /// including the 0-7 remainder bits.
    static func dataModuleCount(version: Int) -> Int {
        let side = 17 + 4 * version
        var count = side * side
        count -= 3 * 64  // three finders with their separators (8 × 8 each)
        count -= 2 * (side - 16)  // the two timing patterns between the finders
        count -= 2 * 15 + 1  // two copies of the format information, and the dark module
        let centres = alignmentCentres(version: version).count
        if centres > 0 {
            let patterns = centres * centres - 3  // the three that would overlap finders are skipped
            count -= patterns * 25
            count += 2 * (centres - 2) * 5  // patterns on row/column 6 overlap the timing pattern by 5 modules
        }
        if version >= 7 { count -= 2 * 18 }  // two copies of the version information
        return count
    }

    /// Row/column coordinates of alignment pattern centres (ISO/IEC 18004 Annex E): the first at 6,
    /// the last 7 from the far edge, the others evenly spaced by an even step counted back from the
    /// last. The step is the smallest even number that makes the gaps fit, except for version 32,
    /// which the standard lays out with 26 instead of 28.
    static func alignmentCentres(version: Int) -> [Int] {
        guard version >= 2 else { return [] }
        let count = version / 7 + 2
        let last = 17 + 4 * version - 7
        let step = version == 32 ? 26 : (version * 4 + count * 2 + 1) / (count * 2 - 2) * 2
        return [6] + (0..<(count - 1)).map { last - $0 * step }.reversed()
    }

    mutating func drawFunctionPatterns() {
        for index in 0..<size {
            setFunction(x: 6, y: index, dark: index % 2 == 0)
            setFunction(x: index, y: 6, dark: index % 2 == 0)
        }
        drawFinder(centreX: 3, centreY: 3)
        drawFinder(centreX: size - 4, centreY: 3)
        drawFinder(centreX: 3, centreY: size - 4)

        let centres = Self.alignmentCentres(version: version)
        for (row, y) in centres.enumerated() {
            for (column, x) in centres.enumerated() {
                let overlapsFinder = (row == 0 && column == 0) || (row == 0 && column == centres.count - 1)
                    || (row == centres.count - 1 && column == 0)
                if !overlapsFinder { drawAlignment(centreX: x, centreY: y) }
            }
        }
        // Reserve the format areas now (their content depends on the mask chosen later).
        drawFormatInformation(0)
        drawVersionInformation()
    }

    /// A 7 × 7 finder with its light separator: rings at Chebyshev distance 0-1 and 3 dark, 2 and 4 light.
    private mutating func drawFinder(centreX: Int, centreY: Int) {
        for dy in -4...4 {
            for dx in -4...4 {
                let x = centreX + dx, y = centreY + dy
                guard x >= 0, y >= 0, x < size, y < size else { continue }
                let distance = max(abs(dx), abs(dy))
                setFunction(x: x, y: y, dark: distance != 2 && distance != 4)
            }
        }
    }

    /// A 5 × 5 alignment pattern: dark centre, light ring, dark ring.
    private mutating func drawAlignment(centreX: Int, centreY: Int) {
        for dy in -2...2 {
            for dx in -2...2 { setFunction(x: centreX + dx, y: centreY + dy, dark: max(abs(dx), abs(dy)) != 1) }
        }
    }

    /// The 15-bit format information: level indicator and mask, BCH(15,5) code with generator
    /// 0x537, XOR-ed with 0x5412 so it is never all light (ISO/IEC 18004 §7.9).
    static func formatInformation(errorCorrection: QRCode.ErrorCorrection, mask: Int) -> Int {
        let data = errorCorrection.formatBits << 3 | mask
        return (data << 10 | bchRemainder(data, generator: 0x537, degree: 10)) ^ 0x5412
    }

    /// The 18-bit version information for versions 7 and up: the version number and its
    /// BCH(18,6) code with generator 0x1F25 (ISO/IEC 18004 §7.10).
    static func versionInformation(version: Int) -> Int {
        version << 12 | bchRemainder(version, generator: 0x1F25, degree: 12)
    }

    /// Remainder of data · x^degree divided by `generator` over GF(2).
    private static func bchRemainder(_ data: Int, generator: Int, degree: Int) -> Int {
        var remainder = data << degree
        for bit in stride(from: remainder.bitWidth - remainder.leadingZeroBitCount - 1, through: degree, by: -1)
        where remainder >> bit & 1 == 1 {
            remainder ^= generator << (bit - degree)
        }
        return remainder
    }

    /// Writes both copies of the format information. Bit 0 is the least significant bit.
    ///
    /// Copy 1 wraps the top-left finder: bits 0-7 down column 8 (skipping the timing row 6), bits 8-14
    /// leftwards along row 8 (skipping the timing column 6). Copy 2 is split: bits 0-7 along row 8
    /// under the top-right finder, right to left; bits 8-14 up column 8 beside the bottom-left finder.
    mutating func drawFormatInformation(_ bits: Int) {
        func bit(_ index: Int) -> Bool { bits >> index & 1 == 1 }
        for index in 0...5 { setFunction(x: 8, y: index, dark: bit(index)) }
        setFunction(x: 8, y: 7, dark: bit(6))
        setFunction(x: 8, y: 8, dark: bit(7))
        setFunction(x: 7, y: 8, dark: bit(8))
        for index in 9...14 { setFunction(x: 14 - index, y: 8, dark: bit(index)) }

        for index in 0...7 { setFunction(x: size - 1 - index, y: 8, dark: bit(index)) }
        for index in 8...14 { setFunction(x: 8, y: size - 15 + index, dark: bit(index)) }
        setFunction(x: 8, y: size - 8, dark: true)  // the "dark module", always dark
    }

    /// Two 6 × 3 copies: above the bottom-left finder and left of the top-right finder (transposed).
    private mutating func drawVersionInformation() {
        guard version >= 7 else { return }
        let bits = Self.versionInformation(version: version)
        for index in 0..<18 {
            let dark = bits >> index & 1 == 1
            let along = index / 3, across = size - 11 + index % 3
            setFunction(x: along, y: across, dark: dark)
            setFunction(x: across, y: along, dark: dark)
        }
    }

    /// Places codeword bits (most significant first) in two-module-wide columns, starting at the
    /// bottom right and snaking up and down leftwards, skipping function modules and the vertical
    /// timing column. Modules left over (remainder bits) stay light before masking.
    mutating func placeCodewords(_ codewords: [UInt8]) {
        let totalBits = codewords.count * 8
        var bitIndex = 0
        var upward = true
        var right = size - 1
        while right >= 1 {
            if right == 6 { right = 5 }  // column 6 is the timing pattern
            for step in 0..<size {
                let y = upward ? size - 1 - step : step
                for x in [right, right - 1] where !isFunction[y * size + x] && bitIndex < totalBits {
                    modules[y * size + x] = codewords[bitIndex / 8] >> (7 - bitIndex % 8) & 1 == 1
                    bitIndex += 1
                }
            }
            upward.toggle()
            right -= 2
        }
    }

    /// Whether mask `pattern` inverts the module at column `x`, row `y` (ISO/IEC 18004 Table 10).
    static func maskInverts(pattern: Int, x: Int, y: Int) -> Bool {
        switch pattern {
        case 0: (x + y) % 2 == 0
        case 1: y % 2 == 0
        case 2: x % 3 == 0
        case 3: (x + y) % 3 == 0
        case 4: (y / 2 + x / 3) % 2 == 0
        case 5: (x * y) % 2 + (x * y) % 3 == 0
        case 6: ((x * y) % 2 + (x * y) % 3) % 2 == 0
        default: ((x + y) % 2 + (x * y) % 3) % 2 == 0
        }
    }

    /// XORs the mask over data modules; applying it twice restores the original.
    mutating func applyMask(_ pattern: Int) {
        for y in 0..<size {
            for x in 0..<size where !isFunction[y * size + x] && Self.maskInverts(pattern: pattern, x: x, y: y) {
                modules[y * size + x].toggle()
            }
        }
    }

    /// Tries all eight masks, with their format information in place, and returns the one with the
    /// lowest penalty (the lowest-numbered on a tie).
    func lowestPenaltyMask(errorCorrection: QRCode.ErrorCorrection) -> Int {
        var best = (mask: 0, penalty: Int.max)
        for pattern in 0...7 {
            var candidate = self
            candidate.applyMask(pattern)
            candidate.drawFormatInformation(Self.formatInformation(errorCorrection: errorCorrection, mask: pattern))
            let penalty = QRMaskPenalty.score(modules: candidate.modules, size: size)
            if penalty < best.penalty { best = (pattern, penalty) }
        }
        return best.mask
    }
}

// MARK: - Mask evaluation

/// The penalty score of ISO/IEC 18004 §7.8.3, lower is better for readers:
/// - N1 = 3 (+1 per extra module) for each run of 5 or more same-coloured modules in a row or column;
/// - N2 = 3 for each 2 × 2 block of one colour (overlapping blocks counted separately);
/// - N3 = 40 for each finder-like 1:1:3:1:1 dark-light-dark-light-dark run with 4 light modules
///   before or after it (counted once per run; the light quiet zone outside the symbol counts as light);
/// - N4 = 10 for each full 5 % by which the share of dark modules departs from 50 %.
enum QRMaskPenalty {
    /// Scores a square grid of `size` × `size` modules, row-major, `true` = dark.
    static func score(modules: [Bool], size: Int) -> Int {
        var total = 0
        for index in 0..<size {
            let row = Array(modules[index * size..<(index + 1) * size])
            let column = (0..<size).map { modules[$0 * size + index] }
            total += runPenalty(row) + runPenalty(column) + finderLikePenalty(row) + finderLikePenalty(column)
        }
        return total + blockPenalty(modules: modules, size: size) + balancePenalty(modules: modules)
    }

    static func runPenalty(_ line: [Bool]) -> Int {
        var penalty = 0
        var runLength = 1
        for index in 1...line.count {
            if index < line.count, line[index] == line[index - 1] {
                runLength += 1
                continue
            }
            if runLength >= 5 { penalty += 3 + runLength - 5 }
            runLength = 1
        }
        return penalty
    }

    private static let finderCore: [Bool] = [true, false, true, true, true, false, true]

    static func finderLikePenalty(_ line: [Bool]) -> Int {
        func isLight(_ range: Range<Int>) -> Bool {
            range.allSatisfy { $0 < 0 || $0 >= line.count || !line[$0] }
        }
        guard line.count >= finderCore.count else { return 0 }
        var penalty = 0
        for start in 0...(line.count - finderCore.count)
        where (0..<finderCore.count).allSatisfy({ line[start + $0] == finderCore[$0] }) {
            if isLight(start - 4..<start) || isLight(start + 7..<start + 11) { penalty += 40 }
        }
        return penalty
    }

    static func blockPenalty(modules: [Bool], size: Int) -> Int {
        var penalty = 0
        for y in 0..<(size - 1) {
            for x in 0..<(size - 1) {
                let colour = modules[y * size + x]
                if modules[y * size + x + 1] == colour, modules[(y + 1) * size + x] == colour,
                   modules[(y + 1) * size + x + 1] == colour { penalty += 3 }
            }
        }
        return penalty
    }

    static func balancePenalty(modules: [Bool]) -> Int {
        let total = modules.count
        let dark = modules.lazy.filter { $0 }.count
        // |dark/total − 1/2| in whole 5 % steps: |20·dark − 10·total| / total, rounded down.
        return abs(20 * dark - 10 * total) / total * 10
    }
}
