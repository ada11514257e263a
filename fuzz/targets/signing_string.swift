// libFuzzer target: the signature grant's parameter parser and the signing string built from it.
//
// Invariant: for every request the parser accepts whose key id and scopes could pass the login's
// later checks (a key id is looked up among ids made of [A-Za-z0-9_-]; scopes must be known
// names), the signing string has exactly seven lines and each line is the field it came from, so
// no field value (a newline in a nonce, say) can move text into another line of what is signed.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSigningString(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let value = try? StrictJSONParser().parse(bytes), let object = value.objectValue,
        let reader = try? ParamsReader(object, allowed: SignatureGrant.allowedMembers),
        let grant = try? SignatureGrant(params: reader)
    else { return 0 }
    let idCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-".utf8)
    guard grant.keyID.utf8.allSatisfy(idCharacters.contains), (grant.scopes ?? []).allSatisfy({ Scope(rawValue: $0) != nil })
    else { return 0 }
    let challenge = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    let signed = grant.signingString(challenge: challenge)
    let lines = signed.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let scopeLine = (grant.scopes ?? []).sorted().joined(separator: " ")
    guard lines == [SigningString.version, grant.keyID, challenge, String(grant.timestampMs), grant.nonce, scopeLine, grant.keyExchange?.hash ?? ""] else {
        fatalError("ambiguous signing string: \(lines)")
    }
    return 0
}
