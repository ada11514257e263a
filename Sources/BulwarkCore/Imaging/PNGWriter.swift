/// Writes grayscale PNG images (ISO/IEC 15948) without a compression library.
///
/// Image data goes into "stored" (uncompressed) deflate blocks: files are larger than compressed
/// ones, but the writer stays a few dozen lines with nothing to get wrong, and QR codes, the one
/// thing drawn here, are small. For bitmaps that are only black and white `bilevel` writes
/// 1 bit per pixel, an eighth of the 8-bit size.
public enum PNGWriter {
    /// An 8-bit grayscale PNG; `pixels` holds `width × height` values, row by row, 0 = black.
    ///
    /// - Precondition: `width` and `height` are positive and `pixels.count == width × height`.
    public static func grayscale(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(width > 0 && height > 0 && pixels.count == width * height, "pixel count must be width × height")
        var scanlines = [UInt8]()
        scanlines.reserveCapacity((width + 1) * height)
        for row in 0..<height {
            scanlines.append(0)  // filter type None
            scanlines.append(contentsOf: pixels[row * width..<(row + 1) * width])
        }
        return image(width: width, height: height, bitDepth: 8, scanlines: scanlines)
    }

    /// A 1-bit grayscale PNG: pixel values below 128 become black, the others white.
    ///
    /// - Precondition: `width` and `height` are positive and `pixels.count == width × height`.
    public static func bilevel(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(width > 0 && height > 0 && pixels.count == width * height, "pixel count must be width × height")
        let bytesPerRow = (width + 7) / 8
        var scanlines = [UInt8](repeating: 0, count: (bytesPerRow + 1) * height)
        for row in 0..<height {
            let rowStart = row * (bytesPerRow + 1) + 1  // after the filter-type byte (0, None)
            for column in 0..<width where pixels[row * width + column] >= 128 {
                // Leftmost pixel in the most significant bit; 1 = white.
                scanlines[rowStart + column / 8] |= 0x80 >> UInt8(column % 8)
            }
        }
        return image(width: width, height: height, bitDepth: 1, scanlines: scanlines)
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    private static func image(width: Int, height: Int, bitDepth: UInt8, scanlines: [UInt8]) -> [UInt8] {
        var header = [UInt8]()
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        // bit depth, colour type 0 (grayscale), compression 0, filter method 0, interlace 0 (none)
        header.append(contentsOf: [bitDepth, 0, 0, 0, 0])

        var file = signature
        appendChunk(type: "IHDR", data: header, to: &file)
        appendChunk(type: "IDAT", data: ZlibStored.wrap(scanlines), to: &file)
        appendChunk(type: "IEND", data: [], to: &file)
        return file
    }

    /// Length, type, data, then the CRC-32 of type and data.
    private static func appendChunk(type: String, data: [UInt8], to file: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        file.appendBigEndian(UInt32(data.count))
        file.append(contentsOf: typeBytes)
        file.append(contentsOf: data)
        file.appendBigEndian(CRC32.checksum(typeBytes + data))
    }
}

/// A zlib stream (RFC 1950) whose deflate data (RFC 1951) is only stored blocks.
enum ZlibStored {
    /// A stored block carries at most 65535 bytes (its length field is 16 bits).
    static let maximumBlockLength = 65_535

    static func wrap(_ data: [UInt8]) -> [UInt8] {
        // CMF 0x78: deflate with a 32 KiB window. FLG 0x01: no dictionary, "fastest" level, and
        // check bits making 0x7801 a multiple of 31.
        var out: [UInt8] = [0x78, 0x01]
        var start = 0
        repeat {
            let end = min(start + maximumBlockLength, data.count)
            let length = UInt16(end - start)
            // Block header: BFINAL in bit 0, BTYPE 00 (stored), then padding to the byte boundary.
            out.append(end == data.count ? 1 : 0)
            out.appendLittleEndian(length)
            out.appendLittleEndian(~length)
            out.append(contentsOf: data[start..<end])
            start = end
        } while start < data.count
        out.appendBigEndian(Adler32.checksum(data))
        return out
    }
}

/// CRC-32 as used by PNG and zlib (ISO 3309 / ITU-T V.42, reflected polynomial 0xEDB88320).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Adler-32 (RFC 1950 §8): two sums modulo 65521.
enum Adler32 {
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }
}

extension [UInt8] {
    fileprivate mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)])
    }

    fileprivate mutating func appendLittleEndian(_ value: UInt16) {
        append(contentsOf: [UInt8(value & 0xFF), UInt8(value >> 8)])
    }
}
