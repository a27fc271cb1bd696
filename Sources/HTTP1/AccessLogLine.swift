/// One access-log line, written in two halves into a byte buffer: what is known when a
/// request is dispatched (client, time, method, target), and what its answer adds (status,
/// body bytes, duration, worker). A synchronous answer writes both at once into the log's
/// buffer; an answer given later keeps the first half aside until it comes.
///
/// Two formats:
/// - `common`: the common log format (NCSA, as nginx's and Apache's default), with the
///   duration in microseconds and the worker's id added at the end, as the combined
///   format adds fields there:
///   `192.0.2.7 - - [03/Dec/2026:14:54:07 +0000] "GET /a?b=1 HTTP/1.1" 200 12 85 1`
///   (a body of 0 bytes is `-`, as in the format's definition);
/// - `json`: one object per line, with the same fields:
///   `{"time":"2026-12-03T14:54:07Z","client":"192.0.2.7","port":50000,"method":"GET",
///   "target":"/a?b=1","version":"HTTP/1.1","status":200,"bytes":12,"duration_us":85,"worker":1}`
///
/// A client's bytes never break a line: in the target and the method, `"` and `\` are
/// escaped and any byte outside printable ASCII is written `\xHH` (common; nginx's rule)
/// or `\u00HH` (json), so one line is one request whatever was sent.
public enum AccessLogLine {
    public enum Format: String, Sendable, CaseIterable {
        case common
        case json
    }

    /// The most bytes the first half takes for a target and method of these lengths
    /// (every byte escaped at worst).
    public static func prefixBound(target: Int, method: Int) -> Int { 160 + 6 * (target + method) }

    /// The first half: from the dispatched request's head.
    /// - Parameters:
    ///   - time: the formatted time (HTTPDate.formatCommonLog or formatISO), per format.
    public static func writePrefix(into out: inout RawBuffer, format: Format, client: ClientAddress?,
                                   method: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer,
                                   minorVersion: UInt8, time: UnsafeRawBufferPointer) {
        switch format {
        case .common:
            if let client { appendHost(client, into: &out) } else { out.append(byte: UInt8(ascii: "-")) }
            out.append(" - - [")
            out.append(time)
            out.append("] \"")
            appendEscaped(method, json: false, into: &out)
            out.append(byte: 0x20)
            appendEscaped(target, json: false, into: &out)
            out.append(minorVersion == 0 ? " HTTP/1.0\" " : " HTTP/1.1\" ")
        case .json:
            out.append("{\"time\":\"")
            out.append(time)
            out.append("\",\"client\":")
            if let client {
                out.append(byte: UInt8(ascii: "\""))
                appendHost(client, into: &out)
                out.append("\",\"port\":")
                out.appendDecimal(Int(client.port))
            } else {
                out.append("null,\"port\":null")
            }
            out.append(",\"method\":\"")
            appendEscaped(method, json: true, into: &out)
            out.append("\",\"target\":\"")
            appendEscaped(target, json: true, into: &out)
            out.append(minorVersion == 0 ? "\",\"version\":\"HTTP/1.0\"," : "\",\"version\":\"HTTP/1.1\",")
        }
    }

    /// The second half, ending the line.
    public static func writeSuffix(into out: inout RawBuffer, format: Format, status: Int, bodyBytes: Int,
                                   durationMicroseconds: Int, worker: Int) {
        switch format {
        case .common:
            out.appendDecimal(status)
            out.append(byte: 0x20)
            if bodyBytes > 0 { out.appendDecimal(bodyBytes) } else { out.append(byte: UInt8(ascii: "-")) }
            out.append(byte: 0x20)
            out.appendDecimal(durationMicroseconds)
            out.append(byte: 0x20)
            out.appendDecimal(worker)
            out.append(byte: 0x0A)
        case .json:
            out.append("\"status\":")
            out.appendDecimal(status)
            out.append(",\"bytes\":")
            out.appendDecimal(bodyBytes)
            out.append(",\"duration_us\":")
            out.appendDecimal(durationMicroseconds)
            out.append(",\"worker\":")
            out.appendDecimal(worker)
            out.append("}\n")
        }
    }

    /// The address without its port, written without a String (IPv4, the common case);
    /// IPv6 goes through `host` (RFC 5952's form needs the run search).
    static func appendHost(_ client: ClientAddress, into out: inout RawBuffer) {
        guard client.family == .ipv4 else {
            var host = client.host
            host.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
            return
        }
        withUnsafeBytes(of: client.bytes) { b in
            for i in 0..<4 {
                if i > 0 { out.append(byte: UInt8(ascii: ".")) }
                out.appendDecimal(Int(b[i]))
            }
        }
    }

    static func appendEscaped(_ bytes: UnsafeRawBufferPointer, json: Bool, into out: inout RawBuffer) {
        for b in bytes {
            if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                out.append(byte: b)
                continue
            }
            out.append(byte: UInt8(ascii: "\\"))
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                out.append(byte: b)
                continue
            }
            out.append(json ? "u00" : "x")
            out.append(byte: HexDigit.upper(b >> 4))
            out.append(byte: HexDigit.upper(b & 0x0F))
        }
    }
}
