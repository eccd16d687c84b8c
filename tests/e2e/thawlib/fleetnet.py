"""A small network for fleet tests: a bridge in the machine's namespace
(the "switch", 10.239.0.1/24: the control plane and the object store's
proxy listen there) and one network namespace per host, each with its own
address on that bridge, so that the control plane talks to its hosts over
a network and a host can be cut off from it (its link down) as a dead
machine or a broken switch port would be.

Names carry a prefix of their own (thawt-f...), never thawd's; everything
is removed by FleetNet.remove(), which also removes what an earlier run
left."""

import subprocess

__all__ = ["FleetNet", "FleetHost"]

BRIDGE = "thawt-fbr"
SUBNET = "10.239.0"


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


class FleetHost:
    """One host's namespace: its name, its address, and its link."""

    def __init__(self, index):
        self.index = index
        self.name = f"thawt-fh{index}"
        self.addr = f"{SUBNET}.{10 + index}"
        self.link = f"thawt-fh{index}r"  # the bridge's end of its cable

    def cut(self):
        """The host's cable unplugged: nothing reaches it, it reaches
        nothing (its processes keep running)."""
        _ip("link", "set", self.link, "down")

    def mend(self):
        _ip("link", "set", self.link, "up")

    def run(self, *argv, **kw):
        return subprocess.run(["nsenter", f"--net=/run/netns/{self.name}", "--", *argv], **kw)


class FleetNet:
    def __init__(self, hosts=2):
        self.gateway = f"{SUBNET}.1"
        self.hosts = [FleetHost(i + 1) for i in range(hosts)]

    def create(self):
        self.remove()
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        for h in self.hosts:
            _ip("netns", "add", h.name)
            _ip("link", "add", h.link, "type", "veth", "peer", "name", "eth0", "netns", h.name)
            _ip("link", "set", h.link, "master", BRIDGE, "up")
            _ip("-n", h.name, "addr", "add", f"{h.addr}/24", "dev", "eth0")
            _ip("-n", h.name, "link", "set", "eth0", "up")
            _ip("-n", h.name, "link", "set", "lo", "up")
            _ip("-n", h.name, "route", "add", "default", "via", self.gateway)
        return self

    def remove(self):
        for h in self.hosts:
            _ip("netns", "del", h.name, check=False)  # its end of the cable goes with it
            _ip("link", "del", h.link, check=False)
        _ip("link", "del", BRIDGE, check=False)
