package collector

import (
	"net"

	"golang.org/x/sys/windows"
)

func init() { netLinks = windowsNetLinks }

// windowsNetLinks asks GetIfEntry2Ex for the interfaces gopsutil named:
// it names them as the net package does, by friendly name.
func windowsNetLinks(_ Config, devices []string) map[string]netLink {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	index := make(map[string]int, len(ifs))
	for _, ifi := range ifs {
		index[ifi.Name] = ifi.Index
	}
	out := make(map[string]netLink, len(devices))
	for _, dev := range devices {
		i, ok := index[dev]
		if !ok {
			continue
		}
		row := windows.MibIfRow2{InterfaceIndex: uint32(i)}
		if err := windows.GetIfEntry2Ex(windows.MibIfEntryNormalWithoutStatistics, &row); err != nil {
			continue
		}
		out[dev] = windowsNetLink(row.OperStatus, row.TransmitLinkSpeed)
	}
	return out
}

// windowsNetLink maps MIB_IF_ROW2's state and speed (bits/s; 0 or all
// ones when unknown) to what Linux reports.
func windowsNetLink(operStatus uint32, bitsPerSecond uint64) netLink {
	l := netLink{up: operStatus == windows.IfOperStatusUp}
	if bitsPerSecond != 0 && bitsPerSecond != ^uint64(0) {
		l.speedBytes = bitsPerSecond / 8
	}
	return l
}
