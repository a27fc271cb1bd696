import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import BenchKit

/// Equality of doubles up to a small relative tolerance.
func close(_ a: Double?, _ b: Double, tolerance: Double = 1e-9) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance * max(1, abs(b))
}

func wrkReport(requests: Int = 120_000, durationMicroseconds: Double = 10_000_000, bytes: Int = 9_000_000,
               connect: Int = 0, read: Int = 0, write: Int = 0, status: Int = 0, timeout: Int = 0,
               p50: Double = 850, p90: Double = 1_500, p99: Double = 3_200, p999: Double = 9_100, max: Double = 20_500) -> WrkReport {
    WrkReport(requests: requests, durationMicroseconds: durationMicroseconds, bytes: bytes,
              errors: .init(connect: connect, read: read, write: write, status: status, timeout: timeout),
              latency: .init(p50: p50, p90: p90, p99: p99, p999: p999, max: max))
}

/// One run with chosen numbers, built through the public initialiser.
func result(_ target: BenchTarget, scenario: String, round: Int, requests: Int, durationMicroseconds: Double = 10_000_000,
            p50: Double = 1_000, p90: Double = 2_000, p99: Double = 4_000, p999: Double = 8_000, max: Double = 16_000,
            status: Int = 0, read: Int = 0, connections: [Int]? = nil, cpuSeconds: Double? = nil,
            primaryCpuSeconds: Double? = nil, peakRssKb: Int? = nil) -> BenchResult {
    BenchResult(target: target, scenario: scenario, round: round,
                wrk: wrkReport(requests: requests, durationMicroseconds: durationMicroseconds, read: read, status: status,
                               p50: p50, p90: p90, p99: p99, p999: p999, max: max),
                perWorkerConnections: connections, perWorkerRequests: nil,
                cpuSeconds: cpuSeconds, primaryCpuSeconds: primaryCpuSeconds, peakRssKb: peakRssKb)
}

/// What XMLParser saw in a document: whether it parsed, and its elements in order.
struct ParsedXML {
    struct Element {
        let name: String
        let attributes: [String: String]
        var text: String
    }
    let ok: Bool
    let error: String?
    let elements: [Element]

    func named(_ name: String) -> [Element] { elements.filter { $0.name == name } }
}

final class XMLCollector: NSObject, XMLParserDelegate {
    var elements: [ParsedXML.Element] = []
    var open: [Int] = []

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        elements.append(.init(name: elementName, attributes: attributeDict, text: ""))
        open.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        _ = open.popLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let i = open.last { elements[i].text += string }
    }
}

func parseXML(_ text: String) -> ParsedXML {
    let parser = XMLParser(data: Data(text.utf8))
    let collector = XMLCollector()
    parser.delegate = collector
    let ok = parser.parse()
    return ParsedXML(ok: ok, error: parser.parserError.map { "\($0)" }, elements: collector.elements)
}
