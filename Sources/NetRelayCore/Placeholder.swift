public enum NetRelayCorePlaceholder {}
