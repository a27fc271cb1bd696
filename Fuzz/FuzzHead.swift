import Glibc

// libFuzzer target: the head parser and the chunked decoder (built by `make fuzz` with the
// HTTP1 sources, outside the package: -sanitize=fuzzer,address).
//
// The input is a request as a client might send it. Checks, beyond "no crash, no
// sanitizer report":
// - the vectorised parser gives what the byte-at-a-time oracle (ReferenceHeadParser) gives:
//   the same end, the same status or the same head and fields;
// - every range a parsed head reports lies inside the head;
// - the connection machine reaches the same decision whether the input arrives whole or
//   split at a point the input chooses: the same request dispatched, or a rejection (which
//   4xx/5xx may differ: with part of a request, a limit can be passed before a later
//   error is seen, and no rule says which of two errors to report);
// - the chunked decoder gives the same body and outcome whole or byte by byte.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHead(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let limits = HTTPLimits(maxHeaderBytes: 2048, maxTargetBytes: 512, maxHeaderCount: 16, maxBodyBytes: 4096)
    let fields = UnsafeMutableBufferPointer<HeaderField>.allocate(capacity: limits.maxHeaderCount + 1)
    fields.initialize(repeating: HeaderField(name: .empty, value: .empty))
    defer { fields.deallocate() }

    // 1. The parser over the whole input, where it holds a complete head, against the oracle.
    let search = HeadParser.findEnd(input, start: 0, from: 0)
    check(search == ReferenceHeadParser.findEnd(input, start: 0, from: 0), "findEnd differs from the oracle")
    // And from a start and a resume point the input chooses, where the first bytes are
    // searched one at a time and the rest in blocks.
    if size > 2 {
        let start = Int(input[1]) % (size + 1)
        let from = start + Int(input[2]) % (size - start + 1)
        check(HeadParser.findEnd(input, start: start, from: from) == ReferenceHeadParser.findEnd(input, start: start, from: from),
              "findEnd from \(start)/\(from) differs from the oracle")
    }
    if case .found(let end) = search {
        let oracleFields = UnsafeMutableBufferPointer<HeaderField>.allocate(capacity: fields.count)
        oracleFields.initialize(repeating: HeaderField(name: .empty, value: .empty))
        defer { oracleFields.deallocate() }
        let result = HeadParser.parse(input, start: 0, end: end, limits: limits, fields: fields)
        let oracle = ReferenceHeadParser.parse(input, start: 0, end: end, limits: limits, fields: oracleFields)
        check(result == oracle, "parse differs from the oracle: \(result) vs \(oracle)")
        if case .complete(let head) = result {
            check(Array(fields[0..<head.fieldCount]) == Array(oracleFields[0..<head.fieldCount]), "fields differ from the oracle")
        }
    }
    if case .found(let end) = search,
       case .complete(let head) = HeadParser.parse(input, start: 0, end: end, limits: limits, fields: fields) {
        func inside(_ r: ByteRange) { check(r.count >= 0 && r.lowerBound >= 0 && r.upperBound <= end, "range outside the head") }
        inside(head.methodRange); inside(head.target); inside(head.path); inside(head.query)
        check(head.fieldCount <= limits.maxHeaderCount, "too many fields")
        for f in fields[0..<head.fieldCount] { inside(f.name); inside(f.value) }
    }

    // 2. The connection machine, whole and split: the same first decision.
    let cut = size > 0 ? Int(input[0]) % (size + 1) : 0
    let whole = firstDecision(input, splitAt: nil, limits: limits, fields: fields)
    let split = firstDecision(input, splitAt: cut, limits: limits, fields: fields)
    check(whole == split, "decision depends on the split: \(whole) vs \(split) at \(cut)")

    // 3. The chunked decoder, whole and byte by byte.
    var a = ChunkedDecoder()
    var bodyA: [UInt8] = []
    let outcomeA = a.decode(input, limits: limits) { bodyA.append(contentsOf: $0) }
    var b = ChunkedDecoder()
    var bodyB: [UInt8] = []
    var outcomeB = ChunkedDecoder.Outcome.needMore
    for i in 0..<size {
        let o = b.decode(UnsafeRawBufferPointer(rebasing: input[i..<(i + 1)]), limits: limits) { bodyB.append(contentsOf: $0) }
        if case .needMore = o { continue }
        if case .done(let used) = o { outcomeB = .done(consumed: i + used) } else { outcomeB = o }
        break
    }
    check(outcomeA == outcomeB, "chunked outcome differs: \(outcomeA) vs \(outcomeB)")
    if case .done = outcomeA { check(bodyA == bodyB, "chunked body differs") }
    return 0
}

/// What the machine decides about the input's first request, fed whole or in two reads.
func firstDecision(_ input: UnsafeRawBufferPointer, splitAt cut: Int?, limits: HTTPLimits,
                   fields: UnsafeMutableBufferPointer<HeaderField>) -> String {
    var machine = HTTPConnectionStateMachine(limits: limits, now: 0)
    var buffer = RawBuffer()
    defer { buffer.release() }
    var pieces: [UnsafeRawBufferPointer] = []
    if let cut, cut > 0, cut < input.count {
        pieces = [UnsafeRawBufferPointer(rebasing: input[0..<cut]), UnsafeRawBufferPointer(rebasing: input[cut...])]
    } else {
        pieces = [input]
    }
    for piece in pieces {
        buffer.append(piece)
        while true {
            guard let base = buffer.base, buffer.count > 0 else { break }
            var count = buffer.count
            let action = machine.process(base, count: &count, now: 0, fields: fields)
            buffer.count = count
            switch action {
            case .needMore: break
            case .sendContinue: continue  // depends on the split by design: not compared
            case .reject: return "reject"
            case .offer, .bodyPart, .bodyEnd:
                check(false, "a body offered or streamed without offersBodies")
            case .dispatch(let head, let body, let consumed):
                check(consumed <= buffer.count && body.upperBound <= consumed, "dispatch beyond the input")
                return "dispatch \(head.method) \(head.fieldCount) \(body.count) \(consumed)"
            }
            break
        }
    }
    return "need more"
}

/// A broken invariant: say which, then abort (libFuzzer saves the input).
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        fputs("invariant broken: \(message())\n", stderr)
        abort()
    }
}
