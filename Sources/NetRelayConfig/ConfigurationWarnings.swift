extension Configuration {
    /// Things that are valid but probably not what the operator meant; logged at start and
    /// printed by check-config, never fatal. Each kind states its own (`KindSpec.warnings`);
    /// each is placed at the key it is about when the configuration was read from a file.
    public func warnings(file: String) -> [ConfigurationIssue] {
        var out: [ConfigurationIssue] = []
        for (i, l) in listeners.enumerated() {
            var w = ListenerWarnings(file: file, path: "listeners[\(i)]", source: sources[i])
            l.kindSpec.warnings(&w)
            out += w.issues
        }
        return out
    }
}
