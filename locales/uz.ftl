# sanduq: manba uchun sahifalar, oʻzbek tili (lotin yozuvi).
# Kalitlar va oʻzgaruvchilar ({ $count }, { $size }, { $files }, { $n }, { $title }) tarjima qilinmaydi.

## Til nomi (til tanlashda)
language-name = Oʻzbekcha

## Barcha sahifalar
site-name = sanduq
page-title = { $title } · sanduq
language-picker = Til
footer = Siz yuborgan hamma narsa kelgan zahoti shifrlanadi. Uni faqat muharrirlar oʻqiy oladi.

## Tor2web shlyuzi orqali kelganlar uchun ogohlantirish
tor2web-title = Diqqat: siz Tor Browser ishlatmayapsiz.
tor2web-body = Bu sahifa sizga Tor2web shlyuzi orqali ochildi. Shlyuz egasi nima yozayotganingizni, nima yuborayotganingizni va qayerda ekaningizni koʻra oladi.
tor2web-action = Bu yerda hech narsa yubormang. Tor Browser oʻrnating va ushbu manzilni unda oching:
tor2web-action-unknown = Bu yerda hech narsa yubormang. Tor Browser oʻrnating va bu saytning onion manzilini unda oching.

## Shakl (bosh sahifa)
index-title = Guvohlik yuborish
index-logged-in = Siz maxfiy kodingiz bilan kirdingiz. Hozir yuborganingiz avvalgi guvohligingizga qoʻshiladi.
logout = Chiqish
replies-heading = Muharrirlarning javoblari
reply-delete = Bu javobni oʻchirish
reply-unreadable = (Bu javobni ochib boʻlmadi.)
replies-none = Hozircha javob yoʻq. Keyinroq qayting.
add-heading = Guvohligingizni toʻldiring
come-back-question = Bizga avval yozganmisiz?
come-back-link = Maxfiy kodingiz bilan qayting
index-intro = Nima sodir boʻlganini yozing, agar boʻlsa, surat yoki hujjatlarni ilova qiling. Yuborganingiz kelgan zahoti shifrlanadi: serverda oʻqish mumkin boʻlgan hech narsa qolmaydi. Ismingizni aytishingiz shart emas.
desk-label = Kimga yuborilsin
message-label = Xabaringiz
files-legend = Fayllar (ixtiyoriy)
files-hint = Koʻpi bilan { $files } ta fayl, jami { $size } gacha. Har bir maydonda bir nechta fayl tanlashingiz mumkin.
files-label = Fayllar
files-more-label = Yana fayllar
submit-button = Xavfsiz yuborish

## Hajmlar, masalan «jami 2 GiB gacha»
size-bytes = { $n } bayt
size-kib = { $n } KiB
size-mib = { $n } MiB
size-gib = { $n } GiB

## Yuborilgandan keyin
thanks-title = Qabul qilindi
thanks-body = Guvohligingiz qabul qilindi va shifrlandi: { $count } ta material. Uni faqat muharrirlar oʻqiy oladi.
codename-heading = Maxfiy kodingiz
codename-intro = Bu maxfiy kod bilan qaytib kelib, guvohligingizni toʻldirishingiz va muharrirlar javobini oʻqishingiz mumkin. U faqat bir marta koʻrsatiladi: hech kim, hatto muharrirlar ham uni tiklay olmaydi.
codename-keep = Uni qogʻozga yozib, yashirib qoʻying yoki yod oling. Uni telefon yoki kompyuterda saqlamang va hech kimga yubormang. Kimda u boʻlsa, sizga moʻljallangan javoblarni oʻqiy oladi.
codename-words = Maxfiy kod yettita inglizcha soʻzdan iborat. Har bir soʻzni lotin harflari bilan, harfma-harf, xuddi shu tartibda, orasida boʻsh joy qoldirib yozing.
thanks-close = Xavfsizligingiz uchun ishingiz tugagach, brauzer oynasini yoping.
send-more = Yana biror narsa yuborish

## Qaytish
login-title = Maxfiy kodingiz bilan qayting
login-intro = Sizga berilgan yettita soʻzni xuddi shu tartibda kiriting. Katta harflar va ortiqcha boʻsh joylar ahamiyatga ega emas.
codename-label = Maxfiy kodingiz
login-button = Kirish
login-new-instead = Buning oʻrniga yangi guvohlik yuborish

## Xatolar: sarlavha va izoh
error-back = Boshiga qaytish
error-bad-request-title = Shaklni oʻqib boʻlmadi
error-bad-request = Brauzeringiz server tushuna olmagan narsani yubordi. Hech narsa saqlanmadi. Iltimos, orqaga qayting va yana urinib koʻring.
error-forbidden-title = Shaklning muddati tugagan
error-forbidden = Xavfsizligingiz uchun shakllar faqat shu saytdan qabul qilinadi. Hech narsa saqlanmadi. Iltimos, orqaga qayting, sahifani yangilang va qayta yuboring.
error-too-large-title = Bir martada juda koʻp
error-too-large = Yuborganingiz bu sayt qabul qiladiganidan kattaroq yoki unda fayllar juda koʻp. Hech narsa saqlanmadi. Iltimos, kamroq yoki kichikroq fayllar yuboring yoki ularni bir necha qismda yuboring.
error-empty-title = Yuboradigan narsa yoʻq
error-empty = Iltimos, xabar yozing yoki fayl tanlang, soʻng yuboring.
error-desk-closed-title = Bu boʻlim hozircha guvohlik qabul qila olmaydi
error-desk-closed = Hozircha hech bir muharrir bu boʻlim materiallarini oʻqiy olmaydi, shuning uchun hech narsa saqlanmadi. Iltimos, keyinroq urinib koʻring.
error-stalled-title = Yuklash toʻxtadi
error-stalled = Ulanishingiz juda uzoq vaqt hech narsa yubormadi, shuning uchun yuklash toʻxtatildi. Hech narsa saqlanmadi. Iltimos, yana urinib koʻring: sekin ulanish muammo emas, uzilib qoladigan ulanish esa muammo.
error-not-found-title = Sahifa topilmadi
error-not-found = Bu manzilda sahifa yoʻq.
error-unknown-codename-title = Bu maxfiy kod bu yerda nomaʼlum
error-unknown-codename = Har bir soʻz siz yozib olganingizdek yozilganini tekshiring va yana urinib koʻring.
error-storage-title = Guvohligingizni saqlab boʻlmadi
error-storage = Server yuborganingizni saqlay olmadi, shuning uchun hech narsa saqlanmadi. Iltimos, keyinroq urinib koʻring.
error-internal-title = Nimadir notoʻgʻri ketdi
error-internal = Hech narsa saqlanmadi. Iltimos, keyinroq urinib koʻring.
