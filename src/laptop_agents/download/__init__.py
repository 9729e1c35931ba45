"""`la download` and `la data list`: a venue's candle and funding history as our CSV files, resumable.

`engine.py` decides what is missing and fetches it window by window through a `HistoryVenue`
(`venues.py`: Bitunix over our REST client; CCXT venues where that extra is installed); `candle_file.py`
keeps the file valid after any interruption; `gaps.py` lists what the venue did not return.
"""
