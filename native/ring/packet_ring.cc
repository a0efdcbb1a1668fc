// STUB: replaced by the AF_PACKET ring.
