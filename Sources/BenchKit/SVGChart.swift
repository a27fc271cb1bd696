import Foundation

/// Small self-contained SVG charts: horizontal bars, grouped bars, stacked shares.
/// No scripts, no external fonts: they render in any browser and in GitHub's viewer.
public enum SVGChart {
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func number(_ v: Double) -> String {
        if v >= 100 { return String(format: "%.0f", v) }
        if v >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.2f", v)
    }

    /// One horizontal bar per (label, value).
    public static func bars(title: String, unit: String, rows: [(label: String, value: Double)]) -> String {
        let labelWidth = 200.0, barWidth = 440.0, rowHeight = 22.0, top = 40.0
        let height = top + Double(rows.count) * rowHeight + 20
        let maxValue = max(rows.map(\.value).max() ?? 1, 1e-9)
        var svg = header(width: labelWidth + barWidth + 90, height: height, title: title)
        for (i, row) in rows.enumerated() {
            let y = top + Double(i) * rowHeight
            let w = barWidth * row.value / maxValue
            svg += text(labelWidth - 6, y + 15, row.label, anchor: "end")
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(String(format: "%.1f", w))\" height=\"\(rowHeight - 6)\" fill=\"\(palette[0])\"/>\n"
            svg += text(labelWidth + w + 4, y + 15, "\(number(row.value)) \(unit)", anchor: "start")
        }
        return svg + "</svg>\n"
    }

    /// For each row label, one bar per series (e.g. p50, p90, p99, p99.9), with a legend.
    public static func groupedBars(title: String, unit: String, series: [String], rows: [(label: String, values: [Double])]) -> String {
        let labelWidth = 200.0, barWidth = 440.0, barHeight = 9.0, top = 56.0
        let rowHeight = barHeight * Double(series.count) + 10
        let height = top + Double(rows.count) * rowHeight + 20
        let maxValue = max(rows.flatMap(\.values).max() ?? 1, 1e-9)
        var svg = header(width: labelWidth + barWidth + 90, height: height, title: title)
        for (k, name) in series.enumerated() {
            let x = labelWidth + Double(k) * 90
            svg += "<rect x=\"\(x)\" y=\"30\" width=\"10\" height=\"10\" fill=\"\(palette[k % palette.count])\"/>\n"
            svg += text(x + 14, 39, name, anchor: "start")
        }
        for (i, row) in rows.enumerated() {
            let y = top + Double(i) * rowHeight
            svg += text(labelWidth - 6, y + rowHeight / 2 + 3, row.label, anchor: "end")
            for (k, v) in row.values.enumerated() {
                let w = barWidth * v / maxValue
                let by = y + Double(k) * barHeight
                svg += "<rect x=\"\(labelWidth)\" y=\"\(by)\" width=\"\(String(format: "%.1f", w))\" height=\"\(barHeight - 1)\" fill=\"\(palette[k % palette.count])\"/>\n"
                svg += text(labelWidth + w + 4, by + 8, "\(number(v)) \(unit)", anchor: "start", size: 9)
            }
        }
        return svg + "</svg>\n"
    }

    /// For each row, a 100% bar split by the shares of its parts (workers), largest first.
    public static func shares(title: String, rows: [(label: String, parts: [Int])]) -> String {
        let labelWidth = 200.0, barWidth = 440.0, rowHeight = 22.0, top = 40.0
        let height = top + Double(rows.count) * rowHeight + 20
        var svg = header(width: labelWidth + barWidth + 90, height: height, title: title)
        for (i, row) in rows.enumerated() {
            let y = top + Double(i) * rowHeight
            svg += text(labelWidth - 6, y + 15, row.label, anchor: "end")
            let total = Double(max(1, row.parts.reduce(0, +)))
            var x = labelWidth
            for (k, part) in row.parts.sorted(by: >).enumerated() {
                let w = barWidth * Double(part) / total
                svg += "<rect x=\"\(String(format: "%.1f", x))\" y=\"\(y + 3)\" width=\"\(String(format: "%.1f", w))\" height=\"\(rowHeight - 6)\" fill=\"\(palette[k % palette.count])\" stroke=\"white\" stroke-width=\"0.5\"/>\n"
                x += w
            }
            let top2 = Statistics.topTwoShare(row.parts.map(Double.init))
            svg += text(labelWidth + barWidth + 4, y + 15, String(format: "top-2 %.0f%%", top2 * 100), anchor: "start")
        }
        return svg + "</svg>\n"
    }

    static func header(width: Double, height: Double, title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            + text(10, 20, title, anchor: "start", size: 14)
    }

    static func text(_ x: Double, _ y: Double, _ s: String, anchor: String, size: Int = 11) -> String {
        "<text x=\"\(String(format: "%.1f", x))\" y=\"\(String(format: "%.1f", y))\" text-anchor=\"\(anchor)\" font-size=\"\(size)\">\(escape(s))</text>\n"
    }
}
