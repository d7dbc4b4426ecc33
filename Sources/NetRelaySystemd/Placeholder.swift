import CSystemd
public enum NetRelaySystemdPlaceholder {}
