import Foundation
import Testing
@testable import BenchKit

@Suite("SVGChart")
struct SVGChartTests {
    static func widths(_ xml: ParsedXML) -> [Double] {
        // The first <rect> is the white background (width 100%).
        xml.named("rect").dropFirst().compactMap { $0.attributes["width"].flatMap(Double.init) }
    }

    // MARK: bars

    @Test func barsIsWellFormedXML() {
        let svg = SVGChart.bars(title: "keepalive: requests/s", unit: "req/s",
                                rows: [("rr/load-aware ×2", 120_000), ("nginx ×2", 90_000)])
        let xml = parseXML(svg)
        #expect(xml.ok, "\(xml.error ?? "")")
        #expect(xml.elements.first?.name == "svg")
        #expect(xml.elements.first?.attributes["xmlns"] == "http://www.w3.org/2000/svg")
    }

    @Test func barsHasOneRectPerBarPlusTheBackground() {
        let rows: [(label: String, value: Double)] = [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)]
        let xml = parseXML(SVGChart.bars(title: "t", unit: "u", rows: rows))
        let rects = xml.named("rect")
        #expect(rects.count == rows.count + 1)
        #expect(rects.first?.attributes["width"] == "100%")
        #expect(parseXML(SVGChart.bars(title: "t", unit: "u", rows: [])).named("rect").count == 1)
    }

    @Test func barsWidthsAreProportionalWithTheLargestAt440() {
        let xml = parseXML(SVGChart.bars(title: "t", unit: "req/s", rows: [("a", 50), ("b", 200), ("c", 100), ("d", 0)]))
        #expect(Self.widths(xml) == [110, 440, 220, 0])
    }

    @Test func barsOfAllZeroValuesAreZeroWide() {
        let xml = parseXML(SVGChart.bars(title: "t", unit: "u", rows: [("a", 0), ("b", 0)]))
        #expect(xml.ok)
        #expect(Self.widths(xml) == [0, 0])
    }

    @Test func barsEscapesLessThanAndAmpersandInLabelsAndTitle() {
        let svg = SVGChart.bars(title: "A&B <test>", unit: "u", rows: [("x<y & z", 1)])
        #expect(svg.contains(">x&lt;y &amp; z</text>"))
        #expect(svg.contains(">A&amp;B &lt;test&gt;</text>"))
        #expect(!svg.contains("x<y"))
        let xml = parseXML(svg)
        #expect(xml.ok, "\(xml.error ?? "")")
        let texts = xml.named("text").map(\.text)
        #expect(texts.contains("x<y & z"))
        #expect(texts.contains("A&B <test>"))
    }

    @Test func barsLabelsShowTheValueAndUnit() {
        let texts = parseXML(SVGChart.bars(title: "t", unit: "req/s", rows: [("a", 123_456), ("b", 12.34), ("c", 1.234)]))
            .named("text").map(\.text)
        #expect(texts.contains("123456 req/s"))
        #expect(texts.contains("12.3 req/s"))
        #expect(texts.contains("1.23 req/s"))
    }

    // MARK: groupedBars

    @Test func groupedBarsIsWellFormedWithOneRectPerBarPlusLegendAndBackground() {
        let series = ["p50", "p90", "p99", "p99.9"]
        let rows: [(label: String, values: [Double])] = [("rr ×2", [1, 2, 4, 8]), ("nginx ×2", [0.5, 1, 2, 11])]
        let xml = parseXML(SVGChart.groupedBars(title: "latency", unit: "ms", series: series, rows: rows))
        #expect(xml.ok, "\(xml.error ?? "")")
        // background + one legend swatch per series + one bar per value
        #expect(xml.named("rect").count == 1 + series.count + rows.count * series.count)
        let texts = xml.named("text").map(\.text)
        for name in series { #expect(texts.contains(name)) }
    }

    @Test func groupedBarsWidthsAreProportionalToTheLargestValue() {
        let xml = parseXML(SVGChart.groupedBars(title: "t", unit: "ms", series: ["p50", "p99"],
                                                rows: [("a", [11, 44]), ("b", [22, 5.5])]))
        let rects = xml.named("rect").dropFirst(1 + 2) // background, two legend swatches
        #expect(rects.compactMap { $0.attributes["width"].flatMap(Double.init) } == [110, 440, 220, 55])
    }

    @Test func groupedBarsEscapesLabelsAndSeriesNames() {
        let svg = SVGChart.groupedBars(title: "t", unit: "ms", series: ["<p50>", "a&b"], rows: [("x & <y>", [1, 2])])
        let xml = parseXML(svg)
        #expect(xml.ok, "\(xml.error ?? "")")
        let texts = xml.named("text").map(\.text)
        #expect(texts.contains("x & <y>"))
        #expect(texts.contains("<p50>"))
        #expect(texts.contains("a&b"))
    }

    // MARK: shares

    @Test func sharesIsWellFormedWithOneRectPerPartPlusTheBackground() {
        let rows: [(label: String, parts: [Int])] = [("rr ×4", [10, 10, 10, 10]), ("shared ×3", [50, 30, 20])]
        let xml = parseXML(SVGChart.shares(title: "connections", rows: rows))
        #expect(xml.ok, "\(xml.error ?? "")")
        #expect(xml.named("rect").count == 1 + 4 + 3)
    }

    @Test func sharesSplits440ByShareLargestFirst() {
        let xml = parseXML(SVGChart.shares(title: "t", rows: [("a", [20, 50, 30])]))
        let rects = Array(xml.named("rect").dropFirst())
        #expect(rects.compactMap { $0.attributes["width"].flatMap(Double.init) } == [220, 132, 88])
        #expect(rects.compactMap { $0.attributes["x"].flatMap(Double.init) } == [200, 420, 552])
        #expect(xml.named("text").map(\.text).contains("top-2 80%"))
    }

    @Test func sharesEscapesLabels() {
        let svg = SVGChart.shares(title: "<&>", rows: [("a<b&c", [1, 1])])
        #expect(svg.contains(">a&lt;b&amp;c</text>"))
        let xml = parseXML(svg)
        #expect(xml.ok, "\(xml.error ?? "")")
        #expect(xml.named("text").map(\.text).contains("a<b&c"))
        #expect(xml.named("text").map(\.text).contains("<&>"))
    }

    @Test func sharesOfNoConnectionsAreZeroWide() {
        let xml = parseXML(SVGChart.shares(title: "t", rows: [("idle", [0, 0])]))
        #expect(xml.ok)
        #expect(Self.widths(xml) == [0, 0])
        #expect(xml.named("text").map(\.text).contains("top-2 0%"))
    }
}
