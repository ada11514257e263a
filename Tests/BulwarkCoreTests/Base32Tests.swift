import BulwarkCore
import Testing

@Suite struct Base32Tests {
    // RFC 4648 §10 test vectors.
    static let vectors: [(plain: String, padded: String)] = [
        ("", ""), ("f", "MY======"), ("fo", "MZXQ===="), ("foo", "MZXW6==="), ("foob", "MZXW6YQ="),
        ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI======"),
    ]

    @Test func encodesRFC4648Vectors() {
        for vector in Self.vectors {
            let bytes = Array(vector.plain.utf8)
            #expect(Base32.encode(bytes, padding: true) == vector.padded)
            #expect(Base32.encode(bytes) == vector.padded.filter { $0 != "=" })
        }
    }

    @Test func decodesRFC4648VectorsWithAndWithoutPadding() {
        for vector in Self.vectors {
            let bytes = Array(vector.plain.utf8)
            #expect(Base32.decode(vector.padded) == bytes)
            #expect(Base32.decode(vector.padded.filter { $0 != "=" }) == bytes)
        }
    }

    @Test func decodingIgnoresCaseSpacesAndDashes() {
        #expect(Base32.decode("mzxw6ytboi") == Array("foobar".utf8))
        #expect(Base32.decode("MZXW 6YTB-OI") == Array("foobar".utf8))
        // The example secret of the Key Uri Format documentation: "Hello!" followed by 0xDEADBEEF.
        #expect(Base32.decode("jbsw-y3dp ehpk-3pxp") == [0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x21, 0xDE, 0xAD, 0xBE, 0xEF])
    }

    @Test(arguments: [
        "MZXW1", "MZXW0", "MZXW8", "MZ_W6", "MZXW6!", "MZXW6\n", "é",  // not in the alphabet
        "M", "MZX", "MZXW6Y", "MZXW6YTBO",  // 1, 3, 6 symbols in the last group: no byte count encodes to that
        "MY=", "MY=======", "M=Y", "MZXW6YTB========", "=",  // padding that does not complete the group, or not at the end
    ])
    func rejectsInvalidInput(_ text: String) {
        #expect(Base32.decode(text) == nil)
    }

    @Test func roundTripsRandomBytes() {
        for count in 0..<70 {
            let bytes = SecureRandom.bytes(count: count)
            #expect(Base32.decode(Base32.encode(bytes)) == bytes)
            #expect(Base32.decode(Base32.encode(bytes, padding: true)) == bytes)
            #expect(Base32.encode(bytes, padding: true).count % 8 == 0)
        }
    }
}
