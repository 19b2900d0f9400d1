/*
 * Stand-in bcryptprimitives.dll for Wine 8.0, which lacks ProcessPrng.
 * Go >= 1.24 Windows binaries import ProcessPrng from bcryptprimitives.dll
 * for crypto/rand and the runtime's random seed and die at start without it.
 * This DLL exports ProcessPrng and fills the buffer from RtlGenRandom
 * (SystemFunction036 in advapi32), which Wine implements. Test use only.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
