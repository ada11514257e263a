import asyncio
from websockets.asyncio.client import connect
BAD = ['', '{', '{"method":', '{"method":"subscribe","params":{"channels":["a', '{"id":"x\\\\', '[1,2]', 'null',
       '{"jsonrpc":"2.0","id":"s1","method":"private/order.place","params":{"side":"buy","tif":"ioc"}}',
       '{"jsonrpc":"2.0","id":3,"method":"subscribe","params":{"channels":[1,"trades.X",{"a":"]"}]}}',
       '{"jsonrpc":"2.0","id":4,"method":"private/order.place","params":{"instrument":"X","side":"buy","tif":"ioc","price":1.5,"qty":null}}',
       '  {"method" : "public/auth" , "id" : 9 }  ']
async def main():
    async with connect("ws://127.0.0.1:39430/ws/v1") as c:
        print(await c.recv())
        for b in BAD:
            await c.send(b)
            try: print(repr(b)[:40], "->", (await asyncio.wait_for(c.recv(), 1))[:150])
            except asyncio.TimeoutError: print(repr(b)[:40], "-> (no answer)")
asyncio.run(main())
