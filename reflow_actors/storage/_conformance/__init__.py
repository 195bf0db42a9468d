"""The cases of :mod:`reflow_actors.conformance`, grouped by the part of the contract they pin."""
