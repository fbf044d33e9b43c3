"""Running agents: one job (spawn, capture, run-info, bus events, idle timeout) and the Ralph loop."""
