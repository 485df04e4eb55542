-- POST /v1/reports with realistic near-duplicate traffic for the dedup step: 500 citizens, 12 complaint
-- texts x 20 neighbourhoods, so the same person resends (duplicate.*) and many people report one event
-- (a shared cluster). Unique Idempotency-Key per request, as in api.lua.
package.path = "bench/lua/?.lua;" .. package.path
local common = require("common")

local counter = 0
local prefix

local texts = {
  "Jalan di Jl. Merdeka depan SDN 3 berlubang besar dan dalam, sudah hampir 2 minggu tidak ada perbaikan. Kemarin malam ada motor jatuh.",
  "Lampu penerangan jalan di Gang Melati mati total sejak seminggu yang lalu, malam gelap sekali dan warga takut lewat karena rawan begal.",
  "Sampah di Perumahan Griya Asri menumpuk sudah 5 hari tidak diangkut petugas kebersihan, baunya menyengat sampai ke rumah warga.",
  "Saluran air di Kampung Rawa Bebek tersumbat sampah dan lumpur, setiap hujan air meluap ke jalan dan masuk ke rumah warga.",
  "Air PDAM di Jl. Diponegoro tidak mengalir sudah 4 hari, warga terpaksa membeli air galon untuk mandi dan masak.",
  "Pohon besar di Jl. Gatot Subroto condong ke arah jalan dan kabel listrik, kalau ada angin kencang bisa tumbang menimpa rumah.",
  "Ada pungutan liar di kantor kelurahan untuk surat pengantar KTP, warga dimintai uang 50 ribu tanpa kwitansi.",
  "Banjir di Desa Sukamaju setinggi lutut sejak tadi malam, air belum surut dan beberapa rumah kemasukan air.",
  "Parkir liar di Jl. Sudirman dekat Pasar Baru memakan separuh badan jalan sehingga macet setiap sore.",
  "sy mau lapor jln di dpn sdn 3 jl merdeka berlubang besar sdh 2 mgg tdk diperbaiki, kmrn ada motor jatuh",
  "Selamat pagi pak, lampu jalan di gang melati mati sdh seminggu, gelap bgt dan rawan begal. Terima kasih",
  "Trotoar di Jl. Ahmad Yani rusak, paving blocknya banyak yang lepas dan ada lubang bekas galian kabel.",
}

function init(_args)
  prefix = common.unique_prefix()
end

request = function()
  counter = counter + 1
  local text = texts[math.random(#texts)] .. " RT " .. math.random(1, 20)
  local phone = "0812" .. tostring(3000000 + math.random(0, 499))
  local body = '{"body":"' .. text .. '","kind":"complaint","phone":"' .. phone .. '"}'
  return common.report_request(prefix, counter, body)
end

delay = common.pacing()
